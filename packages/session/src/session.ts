import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http'
import { getClient, getError, HttpError, onFinished, onHeaders } from '@shallot/stack'
import type { Resolved } from './options.js'
import { DATA_ERROR_CODE, isRecord, type SessionRecord } from './store.js'

/**
 * The session of one request, from {@link getSession}. Reads see this request's view; writes
 * are collected and written once, before the response is sent: only the keys that changed.
 */
export interface Session<T extends Record<keyof T, unknown> = Record<string, unknown>> {
  /** The session id (a new session gets one on first use; not a secret to show to others). */
  readonly id: string
  /** True when the request brought no valid session: this one was created for it. */
  readonly isNew: boolean
  /**
   * False when the store failed and `onStoreError` chose `'continue'`: the session is empty,
   * and nothing will be written or sent.
   */
  readonly available: boolean
  /** When the session was created (or last regenerated), in ms since the epoch. */
  readonly createdAt: number
  /** When the session ends if nothing refreshes it: the idle or absolute deadline, whichever is first. */
  readonly expiresAt: number
  /** The value of `key`, or undefined. Change an object you got in place, or `set` a new one: both are saved. */
  get<K extends keyof T & string>(key: K): T[K] | undefined
  /** Sets `key` (JSON-compatible values; `undefined` deletes the key). */
  set<K extends keyof T & string>(key: K, value: T[K]): void
  /** Whether `key` is set. */
  has(key: keyof T & string): boolean
  /** Deletes `key`. */
  delete(key: keyof T & string): void
  /** The keys that are set. */
  keys(): (keyof T & string)[]
  /** Deletes every key (the whole session is then rewritten, not patched). */
  clear(): void
  /**
   * Gives the session a new id and keeps its data (the defence against session fixation: call
   * it when the user logs in or changes privilege). The old id is destroyed when the session is
   * written, and the absolute timeout starts again.
   */
  regenerate(): void
  /**
   * Ends the session: its record is deleted and its cookie cleared when the response is sent.
   * The object stays usable as a new, empty session (saved only if changed).
   */
  destroy(): void
  /**
   * Writes the pending changes now (a new session even if empty) and resolves once the store
   * acknowledged them. Not needed before answering: writes always complete before the
   * response is sent. Useful in long-lived responses, or to save a session nothing changed.
   */
  save(): Promise<void>
  /** Refreshes the session's idle deadline (and cookie) on this response, whatever `touchAfter` says. */
  touch(): void
}

/** What the response's end will write. */
type Write = 'set' | 'patch' | 'touch' | undefined

const OPEN = 0
const ENDING = 1
const DONE = 2

const DELETED: unique symbol = Symbol('deleted')

const kSession: unique symbol = Symbol('shallot.session')
const kContext: unique symbol = Symbol('shallot.session.context')
const kResponse: unique symbol = Symbol('shallot.session.response')

interface SessionState extends IncomingMessage {
  [kSession]?: SessionImpl
  [kContext]?: Context
  [kResponse]?: ServerResponse
}

/** A layer's resolved options, and whether its handler has returned (then `detached`). @internal */
export interface Context {
  layer: Layer
  detached: boolean
}

/** The per-layer machinery shared by every request. @internal */
export interface Layer extends Resolved {
  live: Context
  late: Context
  call<V>(promise: Promise<V>): Promise<V>
}

/** What the request's cookie resolved to. @internal */
export interface Loaded {
  id: string
  record: SessionRecord
  /** Signed or sealed with an older secret: re-issue the cookie. */
  reissue: boolean
  /** The signed cookie value as received. */
  value?: string
}

type EndArgs = Parameters<ServerResponse['end']>

/** The session of one request. @internal */
export class SessionImpl implements Session<Record<string, unknown>> {
  readonly layer: Layer
  readonly req: IncomingMessage
  readonly res: ServerResponse
  isNew = true
  available = true
  createdAt: number
  lastSeen: number
  /** The id whose record exists in the store (or in the request's sealed cookie). */
  private storedId: string | undefined
  /** The id of a record to create (new or regenerated session). */
  private newId: string | undefined
  private data: Map<string, unknown>
  private changes: Map<string, unknown> | undefined
  /** JSON of objects handed out by get(), to find changes made to them in place. */
  private snapshots: Map<string, string> | undefined
  /** Write the whole record (new, regenerated or cleared), not a patch. */
  private replace = false
  private oldIds: string[] | undefined
  private clearCookie = false
  private destroyed = false
  private touchRequested = false
  private saveRequested = false
  private reissue = false
  /** The record was created by save() in this request: the cookie must carry its id. */
  private created = false
  /** The head was written while the session was still open and its cookie promised a record. */
  private promised = false
  private phase = OPEN
  private headSent = false
  private armed = false
  private detached: boolean
  private awaited = false
  private cancelled = false
  private failed = false
  private error: Error | undefined
  private pending: Promise<void> | undefined
  private saving: Promise<void> | undefined
  private outCookie: string | undefined
  /** The request's cookie value, when signed with the current secret, and the id it names. */
  private signed: string | undefined
  private signedId: string | undefined
  private originalEnd: ServerResponse['end'] | undefined
  private patchedEnd: ServerResponse['end'] | undefined
  private view: object | undefined

  constructor(context: Context, req: IncomingMessage, res: ServerResponse, now: number) {
    this.layer = context.layer
    this.detached = context.detached
    this.req = req
    this.res = res
    this.createdAt = now
    this.lastSeen = now
    this.data = new Map()
  }

  /** Fills the session from a record read for this request. */
  load(loaded: Loaded): void {
    const { record } = loaded
    this.storedId = loaded.id
    this.isNew = false
    this.reissue = loaded.reissue
    if (loaded.value !== undefined && !loaded.reissue) {
      this.signed = loaded.value
      this.signedId = loaded.id
    }
    this.createdAt = record.createdAt
    this.lastSeen = record.lastSeen
    const data = record.data
    for (const key of Object.keys(data)) this.data.set(key, data[key])
  }

  // ---- the public API -------------------------------------------------------------------

  get id(): string {
    if (this.storedId !== undefined) return this.storedId
    this.newId ??= this.layer.genid(this.req)
    return this.newId
  }

  get expiresAt(): number {
    return Math.min(
      this.lastSeen + this.layer.idleTimeout,
      this.createdAt + this.layer.absoluteTimeout
    )
  }

  get(key: string): unknown {
    const value = this.data.get(key)
    if (typeof value === 'object' && value !== null && this.changes?.has(key) !== true) {
      this.snapshots ??= new Map()
      if (!this.snapshots.has(key)) {
        try {
          this.snapshots.set(key, JSON.stringify(value))
        } catch {
          // not JSON-serializable: changes in place cannot be detected, set() still works
        }
        // a change in place is found when the response ends
        if (!this.armed) this.arm()
      }
    }
    return value
  }

  set(key: string, value: unknown): void {
    if (typeof key !== 'string') {
      throw new TypeError(
        `[@shallot/session] session.set: the key must be a string, got ${typeof key}`
      )
    }
    if (value === undefined) {
      this.delete(key)
      return
    }
    if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
      throw new TypeError(
        `[@shallot/session] session.set("${key}"): a ${typeof value} cannot be stored; values must be JSON-compatible`
      )
    }
    this.mutable('set')
    this.data.set(key, value)
    this.changes ??= new Map()
    this.changes.set(key, value)
  }

  has(key: string): boolean {
    return this.data.has(key)
  }

  delete(key: string): void {
    if (!this.data.has(key)) return
    this.mutable('delete')
    this.data.delete(key)
    this.changes ??= new Map()
    this.changes.set(key, DELETED)
  }

  keys(): string[] {
    return [...this.data.keys()]
  }

  clear(): void {
    this.mutable('clear')
    this.data.clear()
    this.changes = undefined
    this.snapshots = undefined
    this.replace = true
  }

  regenerate(): void {
    this.mutable('regenerate', true)
    if (this.storedId !== undefined) (this.oldIds ??= []).push(this.storedId)
    this.storedId = undefined
    this.newId = this.layer.genid(this.req)
    this.created = false
    this.replace = true
    this.destroyed = false
    this.createdAt = this.lastSeen = Date.now()
  }

  destroy(): void {
    this.mutable('destroy', true)
    if (this.storedId !== undefined) {
      ;(this.oldIds ??= []).push(this.storedId)
      this.clearCookie = true
    }
    this.storedId = undefined
    this.newId = undefined
    this.created = false
    this.data.clear()
    this.changes = undefined
    this.snapshots = undefined
    this.replace = false
    this.destroyed = true
    this.saveRequested = false
    this.touchRequested = false
    this.reissue = false
    this.isNew = true
    this.createdAt = this.lastSeen = Date.now()
  }

  touch(): void {
    this.mutable('touch')
    this.touchRequested = true
  }

  save(): Promise<void> {
    try {
      this.mutable('save')
    } catch (err) {
      return Promise.reject(err)
    }
    if (!this.available) {
      return Promise.reject(
        this.error ?? new HttpError(503, 'Session store unavailable', { expose: true })
      )
    }
    this.saveRequested = true
    // A sealed session goes out with the head; there is nothing to write before.
    if (this.layer.store === undefined) return Promise.resolve()
    const run = (): Promise<void> => this.writeNow()
    const saving = (this.saving ?? Promise.resolve()).then(run, run)
    this.saving = saving
    return saving
  }

  /** The Express-style view of `property: true`, made once. */
  expressView(make: (s: SessionImpl) => object): object {
    this.view ??= make(this)
    return this.view
  }

  // ---- lifecycle -----------------------------------------------------------------------

  /** Checks that the session may still change, and arms the write on the response. */
  private mutable(op: string, changesCookie = false): void {
    if (this.phase !== OPEN || this.res.writableEnded) {
      throw new Error(
        `[@shallot/session] session.${op}() was called after res.end(): the session was already written`
      )
    }
    const headSent = this.headSent || this.res.headersSent
    if (headSent) {
      if (changesCookie || this.layer.sealer !== undefined) {
        throw new Error(
          `[@shallot/session] session.${op}() was called after the response head was sent: the session cookie can no longer change (change the session before writing the response)`
        )
      }
      if (this.storedId === undefined && !this.promised) {
        throw new Error(
          `[@shallot/session] session.${op}() was called after the response head was sent: a new session cannot start then, as its cookie could not be sent`
        )
      }
    }
    if (!this.armed) this.arm()
  }

  /**
   * Hooks the response now if its end will have something to do whatever the application
   * does (a refresh is due, the cookie is re-issued or rolling); otherwise the first change
   * hooks it, and a request that only reads costs no hook at all.
   */
  prepare(now: number): void {
    if (this.reissue || this.layer.rolling || this.refreshes(now)) this.arm()
  }

  /** Hooks the response: the cookie just before the head, the store write before the end. */
  arm(): void {
    if (this.armed) return
    this.armed = true
    const res = this.res
    if (res.writableEnded) {
      this.phase = DONE
      return
    }
    onHeaders(res, () => this.onHead())
    this.originalEnd = res.end
    const session = this
    const patched = function end(this: ServerResponse, ...args: EndArgs): ServerResponse {
      return session.onEnd(args)
    } as ServerResponse['end']
    this.patchedEnd = patched
    res.end = patched
  }

  /**
   * What the layer's handler returns once the inner handler has returned: the write in flight
   * if `res.end()` was called (rejecting with the error that should fail the request), else
   * nothing. A response ended later (streamed, or by an outer layer) is written on its own,
   * and a failure then is answered and reported by the session itself ({@link failLate}).
   */
  settled(): Promise<void> | undefined {
    if (!this.armed || this.phase === OPEN) {
      this.detached = true
      return undefined
    }
    this.awaited = true
    if (this.phase === DONE) {
      return this.error === undefined ? undefined : Promise.reject(this.error)
    }
    return (this.pending as Promise<void>).then(() => {
      if (this.error !== undefined) throw this.error
    })
  }

  /** Puts the original res.end back, unless another wrapper was put over ours since. */
  private restoreEnd(): void {
    if (this.res.end === this.patchedEnd) this.res.end = this.originalEnd as ServerResponse['end']
  }

  /** The patched res.end: writes the session, then really ends the response. */
  private onEnd(args: EndArgs): ServerResponse {
    const res = this.res
    const original = this.originalEnd as ServerResponse['end']
    // Written (or failed): a wrapper put over ours still reaches the real end.
    if (this.phase === DONE) return original.apply(res, args)
    if (this.phase === ENDING) {
      // A second end while the write is in flight: the boundary rendering an error wins.
      if (getError(this.req) !== undefined && !res.headersSent) {
        this.cancelled = true
        this.restoreEnd()
        return original.apply(res, args)
      }
      return res
    }
    this.phase = ENDING
    let work: Promise<void> | undefined
    try {
      work = this.commit()
    } catch (err) {
      this.commitFailed(err, args)
      return res
    }
    if (work === undefined) {
      this.finish(args)
      return res
    }
    this.pending = work.then(
      () => this.finishLater(args),
      (err: unknown) => this.commitFailed(err, args)
    )
    return res
  }

  private finish(args: EndArgs): void {
    this.phase = DONE
    this.restoreEnd()
    if (!this.cancelled) (this.originalEnd as ServerResponse['end']).apply(this.res, args)
  }

  /**
   * finish() after an asynchronous write: a throw from the real end (another layer's
   * onHeaders listener failing) cannot reach the caller of res.end any more, so it goes where
   * a failed write goes.
   */
  private finishLater(args: EndArgs): void {
    try {
      this.finish(args)
    } catch (err) {
      this.error = errorOf(err)
      if (this.detached && !this.awaited) this.failLate(this.error)
    }
  }

  private commitFailed(err: unknown, args: EndArgs): void {
    const error = toRequestError(err)
    if (error.status === 503) {
      let policy: string
      try {
        policy = this.layer.onStoreError(errorOf(err), this.req, 'write')
      } catch {
        policy = 'fail'
      }
      if (policy === 'continue') {
        this.failed = true
        this.available = false
        this.finishLater(args)
        return
      }
    }
    this.failed = true
    this.error = error
    this.phase = DONE
    this.restoreEnd()
    if (this.detached && !this.awaited) this.failLate(error)
  }

  /**
   * The layer's handler has returned and cannot carry the error to the stack's boundary:
   * answer with a minimal error response (or cut the connection if the head is out), and
   * report the error through an onFinished listener, which the stack sends to `onError`.
   */
  private failLate(error: Error): void {
    const res = this.res
    const status = error instanceof HttpError ? error.status : 500
    const expose = error instanceof HttpError && error.expose
    if (!res.headersSent && !res.destroyed) {
      for (const name of res.getHeaderNames()) {
        if (/^(?:content-|etag$|last-modified$|transfer-encoding$|set-cookie$)/.test(name)) {
          res.removeHeader(name)
        }
      }
      const body = `${expose ? error.message : (STATUS_CODES[status] ?? 'Error')}\n`
      res.statusCode = status
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      res.setHeader('content-length', Buffer.byteLength(body))
      res.end(body)
    } else {
      res.destroy()
    }
    onFinished(res, () => {
      throw error
    })
  }

  /** onHeaders: the session cookie, decided now if the head comes before the end. Never throws. */
  private onHead(): void {
    this.headSent = true
    if (this.failed || this.cancelled || getError(this.req) !== undefined) return
    const res = this.res
    try {
      if (this.phase === OPEN) {
        // Streaming: the head goes first. Decide now what the end will write.
        this.collect()
        const now = Date.now()
        const write = this.nextWrite(now)
        if (write === 'set' && this.storedId === undefined) {
          void this.id
          this.promised = true
        }
        this.outCookie = this.cookieFor(write, now)
      }
      if (this.outCookie !== undefined) res.appendHeader('set-cookie', this.outCookie)
    } catch (err) {
      // Reported when the response ends (the head cannot fail here).
      this.error = toRequestError(err)
      this.failed = true
    }
  }

  /** Finds objects read with get() and changed in place. */
  private collect(): void {
    const snapshots = this.snapshots
    if (snapshots === undefined) return
    for (const [key, json] of snapshots) {
      if (this.changes?.has(key) === true) continue
      const value = this.data.get(key)
      let now: string | undefined
      try {
        now = JSON.stringify(value)
      } catch (err) {
        const e = new Error(
          `[@shallot/session] the value of "${key}" cannot be serialized: ${(err as Error).message}`,
          { cause: err }
        ) as Error & { code: string }
        e.code = DATA_ERROR_CODE
        throw e
      }
      if (now !== json) {
        this.changes ??= new Map()
        this.changes.set(key, value)
      }
    }
    this.snapshots = undefined
  }

  private dirty(): boolean {
    return this.replace || (this.changes !== undefined && this.changes.size > 0)
  }

  /** What writing the session now would take. */
  private nextWrite(now: number): Write {
    if (!this.available) return undefined
    if (this.storedId === undefined) {
      // A new session is written when it holds something, or when asked to.
      if (this.promised || this.saveRequested || this.data.size > 0) return 'set'
      if (this.layer.saveUninitialized && !this.destroyed) return 'set'
      return undefined
    }
    if (this.dirty() || this.saveRequested) return this.replace ? 'set' : 'patch'
    if (this.refreshes(now)) return 'touch'
    return undefined
  }

  /**
   * Whether a write now also records activity (moves `lastSeen`, the idle deadline and the
   * cookie's expiry): for a new session, when asked with touch(), or when `touchAfter` has
   * passed since the last time. Activity is recorded at most once per `touchAfter`, by
   * writes as by touches, which bounds store writes and cookie re-sends alike.
   */
  private refreshes(now: number): boolean {
    return (
      this.storedId === undefined ||
      this.touchRequested ||
      now - this.lastSeen >= this.layer.touchAfter
    )
  }

  /** The Set-Cookie value for the response, given what is written. */
  private cookieFor(write: Write, now: number, refresh = this.refreshes(now)): string | undefined {
    if (!this.available) return undefined
    const layer = this.layer
    const live = write !== undefined || this.storedId !== undefined
    if (live) {
      const isNewId = (write === 'set' && this.storedId === undefined) || this.created
      if (
        isNewId ||
        this.reissue ||
        layer.rolling ||
        // a sealed cookie is the data: every write re-seals it
        (write !== undefined && layer.sealer !== undefined) ||
        // a persistent cookie's expiry follows the session's when activity is recorded
        (write !== undefined && layer.cookie.maxAge !== null && refresh)
      ) {
        return this.serialize(now, refresh)
      }
      return undefined
    }
    return this.clearCookie ? this.layer.clearCookieHeader(this.secure()) : undefined
  }

  private serialize(now: number, refresh: boolean): string {
    const layer = this.layer
    const c = layer.cookie
    const lastSeen = refresh ? now : this.lastSeen
    const deadline = Math.min(lastSeen + layer.idleTimeout, this.createdAt + layer.absoluteTimeout)
    const remaining = Math.max(0, deadline - now)
    const id = this.id
    let value: string
    if (layer.sealer !== undefined) {
      value = layer.sealer.seal(
        JSON.stringify({ i: id, c: this.createdAt, l: lastSeen, d: this.object() })
      )
    } else {
      // HMAC is deterministic: the request's own cookie, if signed with the current secret, is reused
      value =
        this.signed !== undefined && id === this.signedId ? this.signed : layer.signer.sign(id)
    }
    const maxAge =
      c.maxAge === null
        ? undefined
        : Math.floor((c.maxAge === 'auto' ? remaining : Math.min(c.maxAge, remaining)) / 1000)
    const header = layer.setCookieHeader(value, maxAge, this.secure(), now)
    if (layer.sealer !== undefined && header.length > layer.maxCookieSize) {
      throw new HttpError(
        500,
        `[@shallot/session] the sealed session cookie would be ${header.length} bytes, over the limit of ${layer.maxCookieSize}: browsers drop such cookies. Keep less in the session, or use a server-side store (MemoryStore, RedisStore)`,
        { expose: false }
      )
    }
    return header
  }

  /**
   * Whether the cookie gets Secure: always for a `__Host-`/`__Secure-` name, SameSite=None or Partitioned
   * (browsers drop them otherwise); with 'auto', from the connection or a trusted proxy.
   */
  private secure(): boolean {
    const c = this.layer.cookie
    return c.alwaysSecure || (c.secure === 'auto' ? getClient(this.req).secure : c.secure)
  }

  private object(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [key, value] of this.data) {
      if (key === '__proto__') {
        Object.defineProperty(out, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
      } else {
        out[key] = value
      }
    }
    return out
  }

  /** At res.end: decides the write and the cookie, and runs the write. */
  private commit(): Promise<void> | undefined {
    if (getError(this.req) !== undefined) return undefined
    if (this.saving !== undefined) {
      const run = (): Promise<void> | undefined => this.commitNow()
      return this.saving.then(run, run)
    }
    return this.commitNow()
  }

  private commitNow(): Promise<void> | undefined {
    this.collect()
    const now = Date.now()
    let write = this.nextWrite(now)
    if (this.promised && write === undefined) write = 'set'
    if (this.layer.store === undefined) {
      // Sealed: the cookie is the write.
      if (!this.headSent) this.outCookie = this.cookieFor(write, now)
      return undefined
    }
    if (write === undefined && this.oldIds === undefined) {
      if (!this.headSent) this.outCookie = this.cookieFor(undefined, now)
      return undefined
    }
    // decided before the write, which moves lastSeen
    const refresh = this.refreshes(now)
    return this.write(write, now).then((vanished) => {
      if (!this.headSent) {
        this.outCookie = vanished ? undefined : this.cookieFor(write, now, refresh)
        if (vanished && this.clearCookie)
          this.outCookie = this.layer.clearCookieHeader(this.secure())
      }
    })
  }

  /** save(): writes what is pending now, and records that it was written. */
  private async writeNow(): Promise<void> {
    if (this.phase !== OPEN) return
    this.collect()
    const now = Date.now()
    const write = this.nextWrite(now)
    if (write === undefined && this.oldIds === undefined) return
    try {
      await this.write(write, now)
    } catch (err) {
      // reported to the caller; what changed stays pending for the write at the end
      this.saveRequested = false
      throw toRequestError(err)
    }
    if (write === 'set' && this.storedId === undefined) {
      // the record now exists: later writes patch it, and the cookie must carry its id
      this.storedId = this.newId
      this.newId = undefined
      this.created = true
    }
    this.saveRequested = false
    this.touchRequested = false
  }

  /**
   * Runs one write and the pending destroys against the store. Resolves true when the
   * session vanished from the store meanwhile (destroyed by another request).
   */
  private async write(write: Write, now: number): Promise<boolean> {
    const layer = this.layer
    const store = layer.store as NonNullable<Resolved['store']>
    const refresh = this.refreshes(now)
    const lastSeen = refresh ? now : this.lastSeen
    const ttl = Math.min(lastSeen + layer.idleTimeout, this.createdAt + layer.absoluteTimeout) - now
    let vanished = false
    // Take the changes: those made while the write is in flight (during save()) stay pending.
    const changes = this.changes
    const replace = this.replace
    this.changes = undefined
    this.replace = false
    try {
      if (write !== undefined && ttl <= 0) {
        // the absolute deadline passed while the request ran: the session is over
        if (this.storedId !== undefined) (this.oldIds ??= []).push(this.storedId)
        vanished = true
      } else if (write === 'set') {
        const id = this.storedId ?? this.id
        await layer.call(
          store.set(id, { data: this.object(), createdAt: this.createdAt, lastSeen }, ttl)
        )
      } else if (write !== undefined) {
        vanished = await this.update(write, changes, refresh ? now : undefined, ttl)
      }
    } catch (err) {
      // keep what failed pending, under what changed meanwhile
      if (changes !== undefined) {
        const meanwhile = this.changes as Map<string, unknown> | undefined
        for (const [key, value] of meanwhile ?? []) changes.set(key, value)
        this.changes = changes
      }
      this.replace ||= replace
      throw err
    }
    if (write !== undefined) this.lastSeen = lastSeen
    const oldIds = this.oldIds
    if (oldIds !== undefined) {
      this.oldIds = undefined
      for (const id of oldIds) await layer.call(store.destroy(id))
    }
    if (vanished) {
      this.storedId = undefined
      this.clearCookie = true
    }
    return vanished
  }

  /** A patch (or a touch) of the stored record; true when it vanished meanwhile. */
  private async update(
    write: 'patch' | 'touch',
    changes: Map<string, unknown> | undefined,
    lastSeen: number | undefined,
    ttl: number
  ): Promise<boolean> {
    const layer = this.layer
    const store = layer.store as NonNullable<Resolved['store']>
    const id = this.storedId as string
    if (write === 'touch' && store.touch !== undefined) {
      await layer.call(store.touch(id, lastSeen ?? this.lastSeen, ttl))
      return false
    }
    const set: Record<string, unknown> = Object.create(null)
    const deleted: string[] = []
    if (changes !== undefined) {
      for (const [key, value] of changes) {
        if (value === DELETED) deleted.push(key)
        else set[key] = value
      }
    }
    if (store.patch !== undefined) {
      const patch =
        lastSeen === undefined ? { set, delete: deleted } : { set, delete: deleted, lastSeen }
      return !(await layer.call(store.patch(id, patch, ttl)))
    }
    // read, merge, write: two requests writing at once can lose one another's changes
    const current = await layer.call(store.get(id))
    if (!isRecord(current)) return true
    const data = current.data
    for (const key of Object.keys(set)) {
      Object.defineProperty(data, key, {
        value: set[key],
        enumerable: true,
        writable: true,
        configurable: true,
      })
    }
    for (const key of deleted) delete data[key]
    await layer.call(
      store.set(
        id,
        { data, createdAt: current.createdAt, lastSeen: lastSeen ?? current.lastSeen },
        ttl
      )
    )
    return false
  }
}

/** The Error behind anything thrown. */
function errorOf(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/**
 * What a failure means for the request: an HttpError as is (the oversized sealed cookie), a
 * 500 for data that cannot be serialized, a 503 for anything else the store threw.
 * @internal
 */
export function toRequestError(err: unknown): HttpError {
  if (err instanceof HttpError) return err
  if ((err as { code?: unknown } | null)?.code === DATA_ERROR_CODE) {
    return new HttpError(500, 'Session data cannot be stored', { expose: false, cause: err })
  }
  // The message says nothing about the store's internals: safe to show.
  return new HttpError(503, 'Session store unavailable', { expose: true, cause: err })
}

/** Attaches the layer to the request, for getSession. @internal */
export function attach(req: IncomingMessage, res: ServerResponse, context: Context): void {
  const r = req as SessionState
  r[kContext] = context
  r[kResponse] = res
}

/** Marks the layer's handler as returned. @internal */
export function detach(req: IncomingMessage, layer: Layer): void {
  ;(req as SessionState)[kContext] = layer.late
}

/** The request's session object if one was made. @internal */
export function sessionOf(req: IncomingMessage): SessionImpl | undefined {
  return (req as SessionState)[kSession]
}

/** Makes the request's session (loaded, or new). @internal */
export function createSession(
  req: IncomingMessage,
  res: ServerResponse,
  context: Context,
  loaded: Loaded | undefined,
  now: number
): SessionImpl {
  const s = new SessionImpl(context, req, res, now)
  if (loaded !== undefined) s.load(loaded)
  ;(req as SessionState)[kSession] = s
  return s
}

/**
 * The session of the request, for any layer inside `session()` and the application. A request
 * that brought no valid session gets a new, empty one (saved only if changed). Typed by
 * what you keep in it:
 *
 * @example
 * ```ts
 * interface Data { views: number; user: string }
 * const s = getSession<Data>(req)
 * s.set('views', (s.get('views') ?? 0) + 1)
 * ```
 * @throws Error when no `session()` layer is in front of the caller.
 */
export function getSession<T extends Record<keyof T, unknown> = Record<string, unknown>>(
  req: IncomingMessage
): Session<T> {
  const r = req as SessionState
  const existing = r[kSession]
  if (existing !== undefined) return existing as unknown as Session<T>
  const context = r[kContext]
  const res = r[kResponse]
  if (context === undefined || res === undefined) {
    throw new Error(
      '[@shallot/session] getSession(req) was called for a request that did not pass through a session() layer: put session({ secret }) in the stack in front of this code'
    )
  }
  return createSession(req, res, context, undefined, Date.now()) as unknown as Session<T>
}
