import { createHash } from 'node:crypto'
import { dataError, type SessionPatch, type SessionRecord, type SessionStore } from './store.js'

/** Turns session values into Redis strings and back. */
export interface RedisSerializer {
  stringify(value: unknown): string
  parse(text: string): unknown
}

/**
 * A connected node-redis client (`createClient()` from `redis` v4 and later). Only the
 * methods the store uses are listed.
 */
export interface NodeRedisClientLike {
  sendCommand(args: string[], options?: { timeout?: number }): Promise<unknown>
  multi(): { addCommand(args: string[]): unknown; exec(): Promise<unknown> }
}

/** An ioredis client (`new Redis()` from `ioredis`). Only the methods the store uses are listed. */
export interface IoRedisClientLike {
  call(command: string, ...args: string[]): Promise<unknown>
  multi(): { call(command: string, ...args: string[]): unknown; exec(): Promise<unknown> }
}

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * The Redis client: a node-redis client (`createClient()` from `redis` v4+, connected with
   * `await client.connect()`) or an ioredis client; which one is told by its methods. The
   * store never connects, disconnects or configures it. Give it a way to fail fast while
   * Redis is down (node-redis `disableOfflineQueue: true`, ioredis
   * `enableOfflineQueue: false`), otherwise commands wait in its offline queue until the
   * layer's `storeTimeout`, and run later, after the request was answered with a 503.
   *
   * A client without an `error` listener gets one that logs (throttled) with
   * `console.error`: node-redis would otherwise crash the process when Redis goes away.
   */
  client: NodeRedisClientLike | IoRedisClientLike
  /**
   * Prepended to each session id to make its key.
   *
   * @default 'sess:'
   */
  prefix?: string
  /**
   * How each value is written to its hash field, and read back. Reading a field that does
   * not parse makes the whole session read as missing (a new session), never an error.
   *
   * @default JSON
   */
  serializer?: RedisSerializer
  /**
   * The `COUNT` hint of the `SCAN` calls `clear()` and `length()` make.
   *
   * @default 100
   */
  scanCount?: number
}

interface Driver {
  command(args: string[]): Promise<unknown>
  transaction(commands: string[][]): Promise<unknown[]>
}

/**
 * KEYS[1]: the session's key. ARGV: the TTL in ms, the number n of field/value pairs to set,
 * the n pairs, then the fields to delete. Nothing happens when the key does not exist.
 */
const UPDATE_SCRIPT = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * n)) end
if #ARGV > 2 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 3 + 2 * n)) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`
const UPDATE_SHA: string = createHash('sha1').update(UPDATE_SCRIPT).digest('hex')

const CREATED = 'm:createdAt'
const LAST_SEEN = 'm:lastSeen'
const DATA = 'd:'

/**
 * Sessions in Redis, shared by every process that uses the same Redis and prefix. One HASH
 * per session (`<prefix><id>`): a field per key (`d:<key>`, the serialized value) and two
 * metadata fields (`m:createdAt`, `m:lastSeen`), with the key's TTL set to the time left
 * before the session's deadline.
 *
 * - `set` replaces the hash (`DEL`, `HSET`, `PEXPIRE` in one `MULTI`);
 * - `patch` writes only the keys a request changed (`HSET` the set ones, `HDEL` the deleted
 *   ones, `PEXPIRE`, in one `MULTI` led by `EXISTS`), so concurrent requests that change
 *   different keys never lose one another's changes. If the session was destroyed in
 *   between, the partial hash the `MULTI` left is deleted at once and `patch` resolves false:
 *   such a hash lacks `m:createdAt` and never reads as a session meanwhile;
 * - `touch` sets `m:lastSeen` and the TTL the same way, without rewriting data.
 *
 * Works with node-redis v4 and later and with ioredis (standalone clients; not cluster).
 */
export class RedisStore implements SessionStore {
  /** The key prefix. */
  readonly prefix: string
  private readonly driver: Driver
  private readonly serializer: RedisSerializer
  private readonly scanCount: number

  constructor(options: RedisStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(
        '[@shallot/session] RedisStore: options must be an object with a "client" option'
      )
    }
    for (const key of Object.keys(options)) {
      if (!['client', 'prefix', 'serializer', 'scanCount'].includes(key)) {
        throw new TypeError(
          `[@shallot/session] RedisStore: unknown option "${key}" (known: client, prefix, serializer, scanCount)`
        )
      }
    }
    this.driver = driverFor(options.client)
    const prefix = options.prefix ?? 'sess:'
    if (typeof prefix !== 'string') {
      throw new TypeError(
        `[@shallot/session] RedisStore: option "prefix" must be a string, got ${typeof prefix}`
      )
    }
    this.prefix = prefix
    const serializer = options.serializer ?? JSON
    if (
      typeof serializer !== 'object' ||
      serializer === null ||
      typeof serializer.parse !== 'function' ||
      typeof serializer.stringify !== 'function'
    ) {
      throw new TypeError(
        '[@shallot/session] RedisStore: option "serializer" must have parse(text) and stringify(value) functions'
      )
    }
    this.serializer = serializer
    const scanCount = options.scanCount ?? 100
    if (typeof scanCount !== 'number' || !Number.isInteger(scanCount) || scanCount < 1) {
      throw new TypeError(
        `[@shallot/session] RedisStore: option "scanCount" must be a positive integer, got ${String(scanCount)}`
      )
    }
    this.scanCount = scanCount
    watchErrors(options.client)
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const reply = await this.driver.command(['HGETALL', this.prefix + id])
    return this.decode(reply)
  }

  async set(id: string, record: SessionRecord, ttlMs: number): Promise<void> {
    const key = this.prefix + id
    const hset = [
      'HSET',
      key,
      CREATED,
      String(record.createdAt),
      LAST_SEEN,
      String(record.lastSeen),
    ]
    const data = record.data
    for (const name of Object.keys(data)) {
      const value = data[name]
      if (value !== undefined) hset.push(DATA + name, this.encode(name, value))
    }
    await this.driver.transaction([['DEL', key], hset, ['PEXPIRE', key, ttl(ttlMs)]])
  }

  async destroy(id: string): Promise<void> {
    await this.driver.command(['DEL', this.prefix + id])
  }

  async touch(id: string, lastSeen: number, ttlMs: number): Promise<void> {
    await this.update(id, [LAST_SEEN, String(lastSeen)], 1, ttlMs)
  }

  patch(id: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
    const args: string[] = []
    let pairs = 0
    if (patch.lastSeen !== undefined) {
      args.push(LAST_SEEN, String(patch.lastSeen))
      pairs++
    }
    const set = patch.set
    for (const name of Object.keys(set)) {
      args.push(DATA + name, this.encode(name, set[name]))
      pairs++
    }
    for (const name of patch.delete) args.push(DATA + name)
    return this.update(id, args, pairs, ttlMs)
  }

  async clear(): Promise<void> {
    await this.scan(async (keys) => {
      await this.driver.command(['UNLINK', ...keys])
    })
  }

  async length(): Promise<number> {
    let n = 0
    await this.scan((keys) => {
      n += keys.length
    })
    return n
  }

  /**
   * Runs the update script: one atomic step that changes the hash only if it exists (a
   * patch racing a logout must not re-create a partial session). EVALSHA, falling back to
   * EVAL when Redis does not know the script (first use, or after a restart).
   */
  private async update(id: string, args: string[], pairs: number, ttlMs: number): Promise<boolean> {
    const tail = ['1', this.prefix + id, ttl(ttlMs), String(pairs), ...args]
    let reply: unknown
    try {
      reply = await this.driver.command(['EVALSHA', UPDATE_SHA, ...tail])
    } catch (err) {
      if (!String((err as Error | undefined)?.message).startsWith('NOSCRIPT')) throw err
      reply = await this.driver.command(['EVAL', UPDATE_SCRIPT, ...tail])
    }
    return Number(reply) === 1
  }

  private encode(name: string, value: unknown): string {
    let text: unknown
    try {
      text = this.serializer.stringify(value)
    } catch (err) {
      throw dataError(`the value of "${name}" cannot be serialized`, err)
    }
    if (typeof text !== 'string') {
      throw dataError(
        `the value of "${name}" cannot be serialized`,
        'the serializer returned no string'
      )
    }
    return text
  }

  private decode(reply: unknown): SessionRecord | undefined {
    const fields = pairs(reply)
    if (fields === undefined || fields.length === 0) return undefined
    let createdAt = Number.NaN
    let lastSeen = Number.NaN
    const data: Record<string, unknown> = {}
    for (const [field, text] of fields) {
      if (field === CREATED) createdAt = Number(text)
      else if (field === LAST_SEEN) lastSeen = Number(text)
      else if (field.startsWith(DATA)) {
        let value: unknown
        try {
          value = this.serializer.parse(text)
        } catch {
          return undefined
        }
        Object.defineProperty(data, field.slice(DATA.length), {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
      }
    }
    if (!Number.isFinite(createdAt) || !Number.isFinite(lastSeen)) return undefined
    return { data, createdAt, lastSeen }
  }

  private async scan(each: (keys: string[]) => void | Promise<void>): Promise<void> {
    const pattern = `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}*`
    let cursor = '0'
    do {
      const reply = (await this.driver.command([
        'SCAN',
        cursor,
        'MATCH',
        pattern,
        'COUNT',
        String(this.scanCount),
      ])) as unknown
      const [next, keys] = scanReply(reply)
      cursor = next
      if (keys.length > 0) await each(keys)
    } while (cursor !== '0')
  }
}

function ttl(ms: number): string {
  return String(Math.max(1, Math.ceil(ms)))
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))

/** HGETALL's reply as [field, value] pairs: a flat array (RESP2), a Map or an object (RESP3). */
function pairs(reply: unknown): [string, string][] | undefined {
  if (reply === null || reply === undefined) return undefined
  const out: [string, string][] = []
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out.push([text(reply[i]), text(reply[i + 1])])
    return out
  }
  if (reply instanceof Map) {
    for (const [k, v] of reply) out.push([text(k), text(v)])
    return out
  }
  if (typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply)) out.push([k, text(v)])
    return out
  }
  return undefined
}

function scanReply(reply: unknown): [string, string[]] {
  if (Array.isArray(reply)) {
    const keys = Array.isArray(reply[1]) ? (reply[1] as unknown[]).map(text) : []
    return [text(reply[0]), keys]
  }
  const r = reply as { cursor?: unknown; keys?: unknown[] }
  return [text(r.cursor ?? '0'), Array.isArray(r.keys) ? r.keys.map(text) : []]
}

function isIoRedis(client: unknown): client is IoRedisClientLike {
  const c = client as { call?: unknown; pipeline?: unknown; multi?: unknown }
  return typeof c.call === 'function' && typeof c.multi === 'function'
}

function isNodeRedis(client: unknown): client is NodeRedisClientLike {
  const c = client as { sendCommand?: unknown; multi?: unknown }
  return typeof c.sendCommand === 'function' && typeof c.multi === 'function'
}

const NO_TIMEOUT = { timeout: 0 }

function driverFor(client: unknown): Driver {
  if (typeof client !== 'object' || client === null) {
    throw new TypeError(
      '[@shallot/session] RedisStore: option "client" must be a node-redis or ioredis client'
    )
  }
  if (isIoRedis(client)) {
    return {
      command: ([name, ...args]) => client.call(name as string, ...args),
      transaction: async (commands) => {
        const multi = client.multi()
        for (const [name, ...args] of commands) multi.call(name as string, ...args)
        const replies = (await multi.exec()) as [Error | null, unknown][] | null
        if (replies === null) throw new Error('[@shallot/session] RedisStore: MULTI was aborted')
        return replies.map(([err, value]) => {
          if (err) throw err
          return value
        })
      },
    }
  }
  if (isNodeRedis(client)) {
    return {
      // No per-command timer (node-redis v5+ arms an AbortSignal.timeout for every command
      // by default, a large share of its cost): the layer's storeTimeout bounds each call.
      command: (args) => client.sendCommand(args, NO_TIMEOUT),
      transaction: async (commands) => {
        const multi = client.multi()
        for (const c of commands) multi.addCommand(c)
        return (await multi.exec()) as unknown[]
      },
    }
  }
  throw new TypeError(
    '[@shallot/session] RedisStore: option "client" must be a node-redis client (sendCommand, multi) or an ioredis client (call, multi)'
  )
}

const THROTTLE_MS = 10_000

/** Makes sure a client error event never crashes the process (node-redis throws without a listener). */
function watchErrors(client: unknown): void {
  const emitter = client as {
    on?: (event: string, fn: (err: unknown) => void) => unknown
    listenerCount?: (event: string) => number
  }
  if (typeof emitter.on !== 'function' || typeof emitter.listenerCount !== 'function') return
  if (emitter.listenerCount('error') > 0) return
  let last = 0
  emitter.on('error', (err: unknown) => {
    const now = Date.now()
    if (now - last < THROTTLE_MS) return
    last = now
    console.error(
      `[@shallot/session] RedisStore: redis client error (add your own "error" listener to the client to handle these): ${err instanceof Error ? err.message : String(err)}`
    )
  })
}
