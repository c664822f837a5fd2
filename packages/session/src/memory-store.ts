import { dataError, type SessionPatch, type SessionRecord, type SessionStore } from './store.js'

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most sessions kept. When a new session would exceed it, the least recently used one
   * is evicted (its visitor gets a new session on the next request), so a flood of new
   * visitors cannot exhaust memory. The first eviction of a live session emits a process
   * warning.
   *
   * @default 10000
   */
  maxEntries?: number
}

interface Entry {
  /** The data as one JSON document: a copy, so later changes to the caller's objects do not leak in. */
  json: string
  createdAt: number
  lastSeen: number
  expiresAt: number
}

const DEFAULT_MAX_ENTRIES = 10_000

/**
 * Sessions in the process's memory: bounded by `maxEntries` with least-recently-used
 * eviction, expired lazily on access and by an amortised sweep (no timer per session). The
 * default store: fine for development and for a single process; sessions are lost on
 * restart and are not shared between processes (use {@link RedisStore} for that).
 *
 * Values are kept as JSON, so they come back as they would from Redis (a `Date` comes back
 * as a string).
 */
export class MemoryStore implements SessionStore {
  /** The most sessions kept. */
  readonly maxEntries: number
  // A Map iterates in insertion order: re-inserting an entry on access makes it an LRU list,
  // least recently used first.
  private readonly entries = new Map<string, Entry>()
  private writes = 0
  private warned = false

  constructor(options: MemoryStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('[@shallot/session] MemoryStore: options must be an object')
    }
    for (const key of Object.keys(options)) {
      if (key !== 'maxEntries') {
        throw new TypeError(
          `[@shallot/session] MemoryStore: unknown option "${key}" (known: maxEntries)`
        )
      }
    }
    const max = options.maxEntries ?? DEFAULT_MAX_ENTRIES
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
      throw new TypeError(
        `[@shallot/session] MemoryStore: option "maxEntries" must be a positive integer, got ${String(max)}`
      )
    }
    this.maxEntries = max
  }

  get(id: string): Promise<SessionRecord | undefined> {
    const entry = this.live(id, Date.now())
    if (entry === undefined) return Promise.resolve(undefined)
    // move to the most recently used end
    this.entries.delete(id)
    this.entries.set(id, entry)
    return Promise.resolve({
      data: JSON.parse(entry.json) as Record<string, unknown>,
      createdAt: entry.createdAt,
      lastSeen: entry.lastSeen,
    })
  }

  set(id: string, record: SessionRecord, ttlMs: number): Promise<void> {
    let json: string
    try {
      json = JSON.stringify(record.data)
    } catch (err) {
      return Promise.reject(dataError('the session data cannot be serialized as JSON', err))
    }
    const now = Date.now()
    this.entries.delete(id)
    this.entries.set(id, {
      json,
      createdAt: record.createdAt,
      lastSeen: record.lastSeen,
      expiresAt: now + ttlMs,
    })
    this.afterWrite(now)
    return Promise.resolve()
  }

  destroy(id: string): Promise<void> {
    this.entries.delete(id)
    return Promise.resolve()
  }

  touch(id: string, lastSeen: number, ttlMs: number): Promise<void> {
    const now = Date.now()
    const entry = this.live(id, now)
    if (entry !== undefined) {
      entry.lastSeen = lastSeen
      entry.expiresAt = now + ttlMs
      this.entries.delete(id)
      this.entries.set(id, entry)
    }
    return Promise.resolve()
  }

  patch(id: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
    const now = Date.now()
    const entry = this.live(id, now)
    if (entry === undefined) return Promise.resolve(false)
    // Synchronous read-modify-write: nothing can run in between, so it is atomic.
    const data = JSON.parse(entry.json) as Record<string, unknown>
    for (const key of Object.keys(patch.set)) {
      Object.defineProperty(data, key, {
        value: patch.set[key],
        enumerable: true,
        writable: true,
        configurable: true,
      })
    }
    for (const key of patch.delete) delete data[key]
    let json: string
    try {
      json = JSON.stringify(data)
    } catch (err) {
      return Promise.reject(dataError('the session data cannot be serialized as JSON', err))
    }
    entry.json = json
    if (patch.lastSeen !== undefined) entry.lastSeen = patch.lastSeen
    entry.expiresAt = now + ttlMs
    this.entries.delete(id)
    this.entries.set(id, entry)
    this.afterWrite(now)
    return Promise.resolve(true)
  }

  clear(): Promise<void> {
    this.entries.clear()
    return Promise.resolve()
  }

  length(): Promise<number> {
    this.sweep(Date.now())
    return Promise.resolve(this.entries.size)
  }

  /** The entry of `id` if it has not expired; an expired one is removed. */
  private live(id: string, now: number): Entry | undefined {
    const entry = this.entries.get(id)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      this.entries.delete(id)
      return undefined
    }
    return entry
  }

  /** Evicts beyond `maxEntries`, and sweeps expired entries once per `size` writes (amortised O(1)). */
  private afterWrite(now: number): void {
    const entries = this.entries
    if (++this.writes >= Math.max(1000, entries.size)) this.sweep(now)
    while (entries.size > this.maxEntries) {
      const oldest = entries.keys().next()
      if (oldest.done === true) break
      const entry = entries.get(oldest.value) as Entry
      entries.delete(oldest.value)
      if (!this.warned && entry.expiresAt > now) {
        this.warned = true
        process.emitWarning(
          `[@shallot/session] MemoryStore is full (maxEntries: ${this.maxEntries}): the least recently used sessions are being evicted. Raise maxEntries, or use a shared store such as RedisStore.`,
          'SessionStoreWarning'
        )
      }
    }
  }

  private sweep(now: number): void {
    this.writes = 0
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(id)
    }
  }
}
