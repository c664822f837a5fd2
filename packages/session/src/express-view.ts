import type { SessionImpl } from './session.js'

type Callback = (err?: unknown) => void

/** Names that are methods or metadata on the view, not data keys. */
const RESERVED: ReadonlySet<string> = new Set([
  'id',
  'isNew',
  'regenerate',
  'destroy',
  'save',
  'touch',
  'reload',
  'toJSON',
])

/** Runs a synchronous session method, Express style: errors go to the callback if there is one. */
function callback(run: () => void): (cb?: Callback) => void {
  return (cb) => {
    try {
      run()
    } catch (err) {
      if (typeof cb !== 'function') throw err
      queueMicrotask(() => cb(err))
      return
    }
    if (typeof cb === 'function') queueMicrotask(() => cb())
  }
}

function makeView(s: SessionImpl): object {
  const methods: Record<string, unknown> = {
    regenerate: callback(() => s.regenerate()),
    destroy: callback(() => s.destroy()),
    touch: () => s.touch(),
    reload: (cb?: Callback) => {
      if (typeof cb === 'function') queueMicrotask(() => cb())
    },
    save: (cb?: Callback) => {
      const saving = s.save()
      if (typeof cb === 'function') {
        saving.then(() => cb(), cb)
        return undefined
      }
      saving.catch(() => {})
      return saving
    },
    toJSON: () => {
      const out: Record<string, unknown> = {}
      for (const key of s.keys()) out[key] = s.get(key)
      return out
    },
  }
  return new Proxy(
    {},
    {
      get(_target, prop) {
        if (typeof prop !== 'string') return undefined
        if (prop === 'id') return s.id
        if (prop === 'isNew') return s.isNew
        if (RESERVED.has(prop)) return methods[prop]
        return s.get(prop)
      },
      set(_target, prop, value) {
        if (typeof prop !== 'string' || RESERVED.has(prop)) {
          throw new TypeError(
            `[@shallot/session] req.session.${String(prop)} is reserved and cannot be set as session data`
          )
        }
        s.set(prop, value)
        return true
      },
      deleteProperty(_target, prop) {
        if (typeof prop === 'string') s.delete(prop)
        return true
      },
      has(_target, prop) {
        return typeof prop === 'string' && s.has(prop)
      },
      ownKeys() {
        return s.keys()
      },
      getOwnPropertyDescriptor(_target, prop) {
        if (typeof prop !== 'string' || !s.has(prop)) return undefined
        return { value: s.get(prop), enumerable: true, configurable: true, writable: true }
      },
    }
  )
}

/**
 * The request's session as Express code expects `req.session`: data keys as properties, and
 * `regenerate(cb)`, `destroy(cb)`, `save(cb)`, `touch()`, `reload(cb)` (a no-op: the session
 * is already this request's view). @internal
 */
export function expressView(s: SessionImpl): object {
  return s.expressView(makeView)
}
