import type { SessionPatch, SessionRecord, SessionStore } from '../src/index.js'

/** Wraps a store to record every call (method and id), optionally delaying each one. */
export function recording(
  store: SessionStore,
  delayMs = 0
): { store: SessionStore; calls: string[] } {
  const calls: string[] = []
  const wait = () => (delayMs > 0 ? new Promise((r) => setTimeout(r, delayMs)) : Promise.resolve())
  const wrapped: SessionStore = {
    async get(id) {
      calls.push(`get ${id}`)
      await wait()
      return store.get(id)
    },
    async set(id: string, record: SessionRecord, ttl: number) {
      calls.push(`set ${id}`)
      await wait()
      return store.set(id, record, ttl)
    },
    async destroy(id) {
      calls.push(`destroy ${id}`)
      await wait()
      return store.destroy(id)
    },
  }
  if (store.touch) {
    const touch = store.touch.bind(store)
    wrapped.touch = async (id, lastSeen, ttl) => {
      calls.push(`touch ${id}`)
      await wait()
      return touch(id, lastSeen, ttl)
    }
  }
  if (store.patch) {
    const patch = store.patch.bind(store)
    wrapped.patch = async (id: string, p: SessionPatch, ttl: number) => {
      calls.push(`patch ${id} ${JSON.stringify({ set: p.set, delete: p.delete })}`)
      await wait()
      return patch(id, p, ttl)
    }
  }
  return { store: wrapped, calls }
}

/** A store whose every call fails (or never answers, with `hang`). */
export function brokenStore(hang = false): SessionStore {
  const fail = (): Promise<never> =>
    hang ? new Promise<never>(() => {}) : Promise.reject(new Error('ECONNREFUSED (test)'))
  return { get: fail, set: fail, destroy: fail, touch: fail, patch: fail }
}
