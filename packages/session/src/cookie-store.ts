/** Options of {@link CookieStore}. */
export interface CookieStoreOptions {
  /**
   * The largest `Set-Cookie` header the layer will send, in bytes (name, sealed value and
   * attributes). Browsers keep cookies of up to 4096 bytes and silently drop bigger ones, so
   * a session that would not fit fails the request with a 500 (and reaches the stack's
   * `onError`) instead of being lost without a trace.
   *
   * @default 4096
   */
  maxCookieSize?: number
}

/**
 * Keeps the whole session in the cookie, sealed: encrypted and authenticated with
 * AES-256-GCM under keys derived from the layer's `secret` (HKDF-SHA256), so the client can
 * neither read nor change it. Stateless: nothing to run, nothing shared between processes.
 *
 * The sealed payload carries the creation and last-refresh instants, and the layer checks
 * both timeouts on every request, so a copied cookie stops working at the session's
 * deadline. Until then it cannot be revoked: `destroy()` clears the browser's cookie but not
 * a copy taken earlier. Keep the data small (the cookie is sent with every request, and
 * 4 KB is the limit).
 */
export class CookieStore {
  /** The largest `Set-Cookie` header the layer will send, in bytes. */
  readonly maxCookieSize: number

  constructor(options: CookieStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('[@shallot/session] CookieStore: options must be an object')
    }
    for (const key of Object.keys(options)) {
      if (key !== 'maxCookieSize') {
        throw new TypeError(
          `[@shallot/session] CookieStore: unknown option "${key}" (known: maxCookieSize)`
        )
      }
    }
    const max = options.maxCookieSize ?? 4096
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 256 || max > 8192) {
      throw new TypeError(
        `[@shallot/session] CookieStore: option "maxCookieSize" must be an integer from 256 to 8192, got ${String(max)}`
      )
    }
    this.maxCookieSize = max
  }
}
