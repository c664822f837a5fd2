/**
 * The store contract: what `session({ store })` needs from a place that keeps sessions.
 * Every method is async; `touch`, `patch`, `clear` and `length` are optional.
 */

/** One session as a store keeps it: the data and the two instants the timeouts count from. */
export interface SessionRecord {
  /**
   * The session's data: JSON-compatible values by key. A store may keep it in any form
   * (one JSON document, one field per key) as long as `get` gives back equal values.
   */
  data: Record<string, unknown>
  /** When the session was created (ms since the epoch): the absolute timeout counts from it. */
  createdAt: number
  /** When the session was last refreshed (ms since the epoch): the idle timeout counts from it. */
  lastSeen: number
}

/** The keys one request changed, written by {@link SessionStore.patch}. */
export interface SessionPatch {
  /** Keys to set, with their new values (JSON-compatible). */
  readonly set: Readonly<Record<string, unknown>>
  /** Keys to delete. */
  readonly delete: readonly string[]
  /**
   * The new `lastSeen` of the record, when this write also records activity (at most once
   * per `touchAfter`); absent, the stored one is kept.
   */
  readonly lastSeen?: number
}

/**
 * A place that keeps sessions by id, for `session({ store })`. Write your own by
 * implementing this interface; {@link fromExpressStore} adapts an express-session store.
 *
 * - `ttlMs` is how long the record must be kept from now: the time left before the
 *   session's idle or absolute deadline, whichever comes first. A store that can expire
 *   keys (Redis `PEXPIRE`, a TTL index) should use it; the layer also checks the deadlines
 *   itself on every load, so a store that keeps records longer is still safe.
 * - Values are JSON-compatible (`JSON.stringify` round-trips them). Copy them in `set` and
 *   `patch`: the caller may change its objects afterwards.
 * - Throw (reject) when the store cannot answer: the request then fails with a 503, or goes
 *   on without a session, as `onStoreError` says. Data that cannot be serialized is a bug,
 *   not an outage: reject with an error whose `code` is `'ERR_SESSION_DATA'` and the
 *   request fails with a 500.
 * - `get` must not throw for a record it cannot read (corrupt JSON, foreign format): it
 *   returns `undefined`, and the visitor gets a new session.
 */
export interface SessionStore {
  /** The record of `id`, or `undefined` when there is none (or it cannot be read). */
  get(id: string): Promise<SessionRecord | undefined>
  /** Creates or replaces the whole record of `id`. */
  set(id: string, record: SessionRecord, ttlMs: number): Promise<void>
  /** Deletes the record of `id`; no error when there is none. */
  destroy(id: string): Promise<void>
  /**
   * Refreshes an existing record without rewriting its data: stores `lastSeen` and keeps the
   * record `ttlMs` from now. Does nothing when there is no record. Optional: without it
   * (and without `patch`), a refresh reads the record and writes it back.
   */
  touch?(id: string, lastSeen: number, ttlMs: number): Promise<void>
  /**
   * Applies one request's changes to an existing record, atomically with respect to other
   * patches: sets the keys in `patch.set`, deletes those in `patch.delete`, stores
   * `patch.lastSeen` if given, keeps the record `ttlMs` from now, and leaves every other key as it
   * is. Resolves `false`, changing nothing, when there is no record (it expired or was
   * destroyed meanwhile). Optional: without it, the layer reads the record, applies the
   * changes and writes it back with `set`, and two requests writing at the same moment can
   * lose one another's changes.
   */
  patch?(id: string, patch: SessionPatch, ttlMs: number): Promise<boolean>
  /** Deletes every session of this store. Optional. */
  clear?(): Promise<void>
  /** How many sessions the store holds. Optional; may count expired ones not yet removed. */
  length?(): Promise<number>
}

/** The `code` of an error a store throws for data it cannot serialize (a 500, not a 503). */
export const DATA_ERROR_CODE = 'ERR_SESSION_DATA'

/** Wraps a serialization failure so that the layer answers 500 instead of 503. @internal */
export function dataError(message: string, cause: unknown): Error {
  const err = new Error(
    `[@shallot/session] ${message}: ${cause instanceof Error ? cause.message : String(cause)}`,
    { cause }
  ) as Error & { code: string }
  err.code = DATA_ERROR_CODE
  return err
}

/** True for a well-formed record; anything else read from a store is treated as missing. @internal */
export function isRecord(value: unknown): value is SessionRecord {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Partial<SessionRecord>
  return (
    typeof r.data === 'object' &&
    r.data !== null &&
    !Array.isArray(r.data) &&
    typeof r.createdAt === 'number' &&
    Number.isFinite(r.createdAt) &&
    typeof r.lastSeen === 'number' &&
    Number.isFinite(r.lastSeen)
  )
}
