import { isRecord, type SessionRecord, type SessionStore } from './store.js'

type Callback = (err?: unknown) => void

/**
 * The callback-style store of express-session (connect-redis, connect-mongo, connect-pg-simple,
 * express-session's own MemoryStore…): what {@link fromExpressStore} needs of it.
 */
export interface ExpressStoreLike {
  get(sid: string, callback: (err: unknown, session?: unknown) => void): void
  set(sid: string, session: ExpressSessionData, callback?: Callback): void
  destroy(sid: string, callback?: Callback): void
  clear?(callback?: Callback): void
  length?(callback: (err: unknown, length?: number) => void): void
}

/**
 * What the adapter hands to an express-session store: the `cookie` those stores read the
 * expiry from, and the Shallot record under one key.
 */
export interface ExpressSessionData {
  cookie: { originalMaxAge: number; expires: Date; httpOnly: boolean; path: string }
  shallot: SessionRecord
}

/**
 * Wraps an express-session store so that `session({ store })` can use it: the ecosystem's
 * stores work unchanged. Calls are turned into promises (a callback called twice, or a method
 * that throws, is handled), the record is stored as `{ cookie, shallot }` with
 * `cookie.expires` set to the session's deadline (how those stores compute their TTL), and a
 * record the adapter did not write (an express-session session) reads as missing.
 *
 * The adapter has no `patch` and no `touch` (express-session stores' `touch` only moves the
 * TTL, not the record's last-refresh time), so changes and refreshes are read, merged and
 * written back with `set`: two requests of one session writing at the same moment can lose
 * one another's changes, as with express-session itself.
 */
export function fromExpressStore(store: ExpressStoreLike): SessionStore {
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.get !== 'function' ||
    typeof store.set !== 'function' ||
    typeof store.destroy !== 'function'
  ) {
    throw new TypeError(
      '[@shallot/session] fromExpressStore: the store must have get, set and destroy methods (an express-session store)'
    )
  }
  const adapted: SessionStore = {
    get: (id) =>
      call<unknown>((cb) => store.get(id, cb)).then((sess) => {
        const record = (sess as { shallot?: unknown } | null | undefined)?.shallot
        return isRecord(record)
          ? { data: record.data, createdAt: record.createdAt, lastSeen: record.lastSeen }
          : undefined
      }),
    set: (id, record, ttlMs) =>
      call<void>((cb) =>
        store.set(
          id,
          {
            cookie: {
              originalMaxAge: ttlMs,
              expires: new Date(Date.now() + ttlMs),
              httpOnly: true,
              path: '/',
            },
            shallot: { data: record.data, createdAt: record.createdAt, lastSeen: record.lastSeen },
          },
          cb
        )
      ),
    destroy: (id) => call<void>((cb) => store.destroy(id, cb)),
  }
  const { clear, length } = store
  if (typeof clear === 'function') adapted.clear = () => call<void>((cb) => clear.call(store, cb))
  if (typeof length === 'function') {
    adapted.length = () =>
      call<number | undefined>((cb) => length.call(store, cb)).then((n) => n ?? 0)
  }
  return adapted
}

/** Runs a callback-style call as a promise: the first callback wins, a throw rejects. */
function call<T>(start: (callback: (err: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false
    try {
      start((err, value) => {
        if (settled) return
        settled = true
        if (err !== undefined && err !== null) reject(err)
        else resolve(value as T)
      })
    } catch (err) {
      if (!settled) {
        settled = true
        reject(err)
      }
    }
  })
}
