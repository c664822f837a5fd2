/**
 * Challenge and credential syntax shared by the schemes.
 *
 * RFC 9110 §11: `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`,
 * `auth-param = token BWS "=" BWS ( token / quoted-string )`.
 * @internal
 */

/** RFC 9110 §5.6.2 `token`: the syntax of a header field name. */
export const TOKEN: RegExp = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** Visible ASCII and space: what a realm may hold so that it is a valid header value everywhere. */
const REALM = /^[\x20-\x7e]*$/

/** RFC 6749 §3.3 `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`. */
export const SCOPE_TOKEN: RegExp = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** RFC 9110 §5.6.4 quoted-string: `"` and `\` are escaped with a backslash. */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`
}

/** Throws the package's TypeError for a bad option. */
export function optionError(
  scheme: string,
  name: string,
  message: string,
  ...value: [unknown?]
): never {
  const got = value.length > 0 ? `, got ${describe(value[0])}` : ''
  throw new TypeError(`[@shallot/auth] option "${name}" of ${scheme}() ${message}${got}`)
}

export function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'symbol' || typeof value === 'bigint') return String(value)
  try {
    const s = JSON.stringify(value)
    if (s === undefined) return String(value)
    return s.length > 60 ? `${s.slice(0, 57)}...` : s
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** Checks and returns the realm option (visible ASCII, so it is a valid header value). */
export function checkRealm(scheme: string, realm: unknown, fallback: string): string {
  if (realm === undefined) return fallback
  if (typeof realm !== 'string' || !REALM.test(realm)) {
    optionError(scheme, 'realm', 'must be a string of printable ASCII characters', realm)
  }
  return realm
}
