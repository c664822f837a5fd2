import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Handler, Middleware } from '@shallot/stack'
import { parseCookie } from 'cookie'
import { expressView } from './express-view.js'
import { type Resolved, resolveOptions, type SessionOptions } from './options.js'
import {
  attach,
  type Context,
  createSession,
  detach,
  getSession,
  type Layer,
  type Loaded,
  type SessionImpl,
  sessionOf,
  toRequestError,
} from './session.js'
import { isRecord, type SessionRecord } from './store.js'

/** Longest cookie value worth checking: a signed id is at most 128 + 1 + 43 characters. */
const MAX_SIGNED = 256
/** Longest sealed value worth opening (twice the largest cookie a browser keeps). */
const MAX_SEALED = 8192

/**
 * Cookie sessions for Node request listeners. The cookie carries an HMAC-signed id (or, with
 * a {@link CookieStore}, the whole session sealed with AES-256-GCM); the data lives in a
 * store: a bounded {@link MemoryStore} by default, {@link RedisStore}, your own, or any
 * express-session store through {@link fromExpressStore}.
 *
 * - A request with a session cookie has its session loaded before the inner layers run;
 *   without one, nothing is done until `getSession(req)` is called.
 * - Only what changed is written (per key), once, and the write completes before the
 *   response is sent: when the client has the response, the store has the write.
 * - Idle and absolute timeouts are checked by the server on every load.
 * - A bad, unsigned, tampered or unknown cookie starts a new session with a new id.
 * - A failing store answers `503 Session store unavailable` (or goes on without a session:
 *   `onStoreError`).
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/session#readme
 * @example
 * ```ts
 * const app = stack(session({ secret: process.env.SESSION_SECRET! }))((req, res) => {
 *   const s = getSession<{ views: number }>(req)
 *   s.set('views', (s.get('views') ?? 0) + 1)
 *   res.end(`You have visited this page ${s.get('views')} times.`)
 * })
 * ```
 */
export function session(options: SessionOptions): Middleware {
  const resolved = resolveOptions(options)
  const layer = makeLayer(resolved)
  const { name, sealer, store, saveUninitialized, property } = layer
  const live = layer.live
  const nameEq = `${name}=`

  /** The session the cookie names, or undefined when it names none we can use. */
  function fromCookie(header: string): Found | undefined {
    const first = parseCookie(header)[name]
    if (first === undefined) return undefined
    const found = check(first)
    if (found !== undefined) return found
    // Duplicates (a stale cookie from another path or domain): take the first valid one.
    const at = header.indexOf(nameEq)
    if (header.indexOf(nameEq, at + nameEq.length) === -1) return undefined
    let skipped = false
    for (const part of header.split(';')) {
      const value = parseCookie(part)[name]
      if (value === undefined) continue
      if (!skipped) {
        skipped = true
        continue
      }
      const other = check(value)
      if (other !== undefined) return other
    }
    return undefined
  }

  function check(value: string): Found | undefined {
    if (sealer === undefined) {
      if (value.length > MAX_SIGNED) return undefined
      const key = layer.signer.verify(value)
      if (key === -1) return undefined
      const id = value.slice(0, value.lastIndexOf('.'))
      return { id, record: undefined, reissue: key > 0, value }
    }
    if (value.length > MAX_SEALED) return undefined
    const opened = sealer.open(value)
    if (opened === undefined) return undefined
    let payload: unknown
    try {
      payload = JSON.parse(opened.text)
    } catch {
      return undefined
    }
    const p = payload as { i?: unknown; c?: unknown; l?: unknown; d?: unknown }
    const record = { data: p.d, createdAt: p.c, lastSeen: p.l }
    if (typeof p.i !== 'string' || !isRecord(record)) return undefined
    if (expired(record, Date.now())) return undefined
    return { id: p.i, record, reissue: opened.key > 0 }
  }

  function expired(record: SessionRecord, now: number): boolean {
    return (
      now >= record.createdAt + layer.absoluteTimeout || now >= record.lastSeen + layer.idleTimeout
    )
  }

  /** Runs the inner handler with `s` as the request's session, then waits for its write. */
  function run(
    s: SessionImpl | undefined,
    req: IncomingMessage,
    res: ServerResponse,
    next: Handler,
    now: number
  ): void | Promise<void> {
    if (s !== undefined) s.prepare(now)
    const result = next(req, res)
    if (result !== undefined && typeof result.then === 'function') {
      return result.then(() => after(req))
    }
    return after(req)
  }

  function after(req: IncomingMessage): Promise<void> | undefined {
    const s = sessionOf(req)
    if (s === undefined) {
      detach(req, layer)
      return undefined
    }
    return s.settled()
  }

  async function load(
    req: IncomingMessage,
    res: ServerResponse,
    next: Handler,
    found: Found
  ): Promise<void> {
    const st = store as NonNullable<Resolved['store']>
    let record: SessionRecord | undefined
    let available = true
    try {
      record = await layer.call(st.get(found.id))
    } catch (err) {
      const error = toRequestError(err)
      let policy = 'fail'
      if (error.status === 503) {
        try {
          policy = layer.onStoreError(err instanceof Error ? err : error, req, 'load')
        } catch {
          policy = 'fail'
        }
      }
      if (policy !== 'continue') throw error
      available = false
    }
    const now = Date.now()
    let loaded: Loaded | undefined
    if (record !== undefined) {
      if (!isRecord(record)) {
        record = undefined
      } else if (expired(record, now)) {
        // Past a deadline: gone for good, whatever the store still holds.
        layer.call(st.destroy(found.id)).catch(ignore)
        record = undefined
      } else {
        loaded = { id: found.id, record, reissue: found.reissue, value: found.value }
      }
    }
    const s = createSession(req, res, live, loaded, now)
    if (!available) s.available = false
    const w = run(loaded === undefined ? undefined : s, req, res, next, now)
    if (w !== undefined) await w
  }

  return function sessionMiddleware(next: Handler): Handler {
    return function session(req, res) {
      attach(req, res, live)
      if (property !== undefined) defineProperty(req, property)
      const header = req.headers.cookie
      if (header !== undefined && header.indexOf(nameEq) !== -1) {
        const found = fromCookie(header)
        if (found !== undefined) {
          if (store !== undefined) return load(req, res, next, found)
          // Sealed: everything is in the cookie, nothing to wait for.
          const loaded = {
            id: found.id,
            record: found.record as SessionRecord,
            reissue: found.reissue,
          }
          const now = Date.now()
          return run(createSession(req, res, live, loaded, now), req, res, next, now)
        }
      }
      if (saveUninitialized) {
        return run(getSession(req) as unknown as SessionImpl, req, res, next, Date.now())
      }
      return run(undefined, req, res, next, 0)
    }
  }
}

/** What a session cookie names: an id (signed cookie) or a whole record (sealed cookie). */
interface Found {
  id: string
  /** Sealed cookies carry the record; signed ones only name it. */
  record: SessionRecord | undefined
  reissue: boolean
  /** The signed value as received. */
  value?: string
}

function ignore(): void {}

function makeLayer(resolved: Resolved): Layer {
  const layer = resolved as Layer
  layer.live = { layer, detached: false } satisfies Context
  layer.late = { layer, detached: true } satisfies Context
  const timeout = resolved.storeTimeout
  layer.call = timeout === undefined ? (promise) => promise : deadlines(timeout)
  return layer
}

interface Pending {
  deadline: number
  reject: (err: Error) => void
}

/**
 * Bounds store calls to `timeout` ms with one shared timer instead of one per call: calls in
 * flight sit in a set, and a tick every `timeout / 4` ms (unref'd, running only while calls
 * are pending) rejects those past their deadline. A call fails between `timeout` and
 * `1.25 × timeout` ms after it started.
 */
function deadlines(timeout: number): <V>(promise: Promise<V>) => Promise<V> {
  const pending = new Set<Pending>()
  const tickMs = Math.max(5, Math.floor(timeout / 4))
  let timer: NodeJS.Timeout | undefined
  const tick = (): void => {
    const now = Date.now()
    for (const p of pending) {
      if (p.deadline <= now) {
        pending.delete(p)
        const err = new Error(
          `[@shallot/session] the session store did not answer within ${timeout} ms (storeTimeout)`
        ) as Error & { code: string }
        err.code = 'ETIMEDOUT'
        p.reject(err)
      }
    }
    if (pending.size === 0 && timer !== undefined) {
      clearInterval(timer)
      timer = undefined
    }
  }
  return <V>(promise: Promise<V>): Promise<V> =>
    new Promise<V>((resolve, reject) => {
      const entry: Pending = { deadline: Date.now() + timeout, reject }
      pending.add(entry)
      if (timer === undefined) {
        timer = setInterval(tick, tickMs)
        timer.unref()
      }
      promise.then(
        (value) => {
          pending.delete(entry)
          resolve(value)
        },
        (err: unknown) => {
          pending.delete(entry)
          reject(err)
        }
      )
    })
}

function sessionGetter(this: IncomingMessage): object {
  return expressView(getSession(this) as unknown as SessionImpl)
}

function defineProperty(req: IncomingMessage, property: string): void {
  // Not configurable: `delete req.session` (express-session's way to end a session with
  // `unset: 'destroy'`) must fail loudly, not remove the property and keep the session.
  // Defining it again with the same getter (a second layer) is allowed.
  Object.defineProperty(req, property, {
    configurable: false,
    enumerable: true,
    get: sessionGetter,
  })
}
