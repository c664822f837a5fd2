import fc from 'fast-check'

/*
 * Header values as byte strings: each character of a string is one byte on the wire
 * (latin1), so a value can carry anything, CR, LF and NUL included. Text meant as UTF-8
 * (non-ASCII origins, user names) is turned into its bytes with `utf8Bytes`.
 */

/** The bytes of `text` as UTF-8, as a byte string. */
export function utf8Bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1')
}

/** A byte Node's parser takes in a field value: HTAB, SP to `~`, obs-text. */
export const fieldChar: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.constant(0x09) },
    { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xff }) }
  )
  .map((c) => String.fromCharCode(c))

/** Any byte. */
export const anyByte: fc.Arbitrary<string> = fc
  .integer({ min: 0, max: 0xff })
  .map((c) => String.fromCharCode(c))

/** Text Node's parser accepts in a field value. */
export const fieldText = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fieldChar, maxLength })

/** Any bytes at all. */
export const byteText = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: anyByte, maxLength })

/** Any Unicode text, as its UTF-8 bytes. */
export const unicodeText = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', maxLength }).map(utf8Bytes)

/**
 * A value as one header line can carry it: a blank line (CRLF CRLF, or a CRLF at the end,
 * followed by the line's own CRLF) would end the head there and make the rest a second,
 * pipelined request, which is not what a header value tests. Such a CRLF gets a space after
 * it, which makes the next line an obsolete line folding (which Node refuses).
 */
export function oneHeaderLine(value: string): string {
  return value.replace(/\r\n(?=\r\n)/g, '\r\n ').replace(/\r\n$/, '\r\n ')
}

/** What a CR/LF in a value would turn into, were it copied into a response head. */
const SPLITTERS = ['\r\n', '\n', '\r', '\n\n', '\r\n ', '\n\r', '\r\r\n', '\r\n\t']
const INJECTED = [
  'X-Shallot-Injected: 1',
  'Set-Cookie: sid=injected',
  'Location: http://evil.example/',
  'Content-Length: 0',
  'HTTP/1.1 200 OK',
  'Access-Control-Allow-Origin: http://evil.example',
]

/** A value that tries to split the head: text, a CR and/or LF, a header line. */
export const headerSplitting: fc.Arbitrary<string> = fc
  .tuple(fieldText(30), fc.constantFrom(...SPLITTERS), fc.constantFrom(...INJECTED), fieldText(10))
  .map((parts) => parts.join(''))

/** Control characters and terminal escapes amid text: NUL, ESC sequences, DEL, VT, FF, C1. */
const CONTROLS = [
  '\x00',
  '\x1b[31m',
  '\x1b]0;owned\x07',
  '\x1b[2J',
  '\x7f',
  '\x08',
  '\x0b',
  '\x0c',
  '\x85', // NEL as a latin1 byte: obs-text, which Node lets through
  utf8Bytes('\u0085'),
  utf8Bytes('\u2028'),
  utf8Bytes('\u202e'), // right-to-left override
  '\t',
]
export const controlText: fc.Arbitrary<string> = fc
  .tuple(fieldText(20), fc.constantFrom(...CONTROLS), fieldText(20))
  .map((parts) => parts.join(''))

type Edit =
  | { kind: 'insert'; at: number; ch: string }
  | { kind: 'delete'; at: number }
  | { kind: 'replace'; at: number; ch: string }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'flipCase'; at: number }
  | { kind: 'truncate'; at: number }

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    ch: fc.oneof(fieldChar, anyByte),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('replace' as const),
    at: fc.nat(),
    ch: fc.oneof(fieldChar, anyByte),
  }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.nat(24) }),
  fc.record({ kind: fc.constant('flipCase' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() })
)

function applyEdit(s: string, e: Edit): string {
  const at = s.length === 0 ? 0 : e.at % (s.length + 1)
  switch (e.kind) {
    case 'insert':
      return s.slice(0, at) + e.ch + s.slice(at)
    case 'delete':
      return s.slice(0, at) + s.slice(at + 1)
    case 'replace':
      return s.slice(0, at) + e.ch + s.slice(at + 1)
    case 'duplicate':
      return s.slice(0, at + e.length) + s.slice(at)
    case 'flipCase': {
      const c = s.charAt(at)
      const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()
      return s.slice(0, at) + flipped + s.slice(at + 1)
    }
    case 'truncate':
      return s.slice(0, at)
  }
}

/** A value of `arb` with one to three byte-level edits: inserted, deleted, replaced bytes… */
export function mutated(arb: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(arb, fc.array(edit, { minLength: 1, maxLength: 3 }))
    .map(([s, edits]) => edits.reduce(applyEdit, s))
}

/** Values of `arb` repeated into a long list: a few hundred bytes to past Node's 16 KiB. */
export function repeated(arb: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(arb, fc.integer({ min: 2, max: 600 }), fc.constantFrom(', ', ',', ' ', '; ', ''))
    .map(([s, n, sep]) => Array.from({ length: n }, () => s).join(sep))
}

/**
 * Hostile values for a header whose grammar `nearValid` generates: mostly near-valid values
 * and their mutations, then arbitrary text Node takes, arbitrary bytes, Unicode, head
 * splitting attempts, control characters, and very long values.
 */
export function hostile(nearValid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .oneof(
      { weight: 10, arbitrary: nearValid },
      { weight: 5, arbitrary: mutated(nearValid) },
      { weight: 3, arbitrary: fieldText(200) },
      { weight: 1, arbitrary: byteText(100) },
      { weight: 1, arbitrary: unicodeText(60) },
      { weight: 1, arbitrary: headerSplitting },
      { weight: 1, arbitrary: controlText },
      { weight: 1, arbitrary: repeated(nearValid) }
    )
    .map(oneHeaderLine)
}

/** A list of 1 to `max` values of `arb` with the usual and unusual separators. */
export function list(arb: fc.Arbitrary<string>, max = 5): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.array(arb, { minLength: 1, maxLength: max }),
      fc.constantFrom(', ', ',', ' , ', ',,', ', ,', '\t,')
    )
    .map(([items, sep]) => items.join(sep))
}

/** `bytes`-safe base64 of arbitrary bytes, with and without padding, or base64url. */
export function base64Of(bytes: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(bytes, fc.constantFrom('base64', 'nopad', 'base64url')).map(([b, form]) => {
    const buf = Buffer.from(b, 'latin1')
    if (form === 'base64url') return buf.toString('base64url')
    const text = buf.toString('base64')
    return form === 'nopad' ? text.replace(/=+$/, '') : text
  })
}

/** A token (RFC 9110 §5.6.2). */
export const token: fc.Arbitrary<string> = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,24}$/)

/** Decimal numbers around and beyond what a position can be. */
export const bigDecimal: fc.Arbitrary<string> = fc.constantFrom(
  '9007199254740991',
  '9007199254740993',
  '18446744073709551616',
  '999999999999999',
  '1000000000000000',
  '99999999999999999999999999999999',
  '0000000000000000000000000001',
  '1e3',
  '0x10',
  '-1',
  '+1',
  ' 1',
  '1 ',
  '١'
)

/** Dates in the three HTTP-date forms (RFC 9110 §5.6.7). */
export function httpDate(ms: number, form: 'imf' | 'rfc850' | 'asctime'): string {
  const d = new Date(ms)
  if (form === 'imf') return d.toUTCString()
  const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
  const months = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ')
  const pad = (n: number) => String(n).padStart(2, '0')
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  const month = months[d.getUTCMonth()] as string
  const day = days[d.getUTCDay()] as string
  if (form === 'rfc850') {
    return `${day}, ${pad(d.getUTCDate())}-${month}-${pad(d.getUTCFullYear() % 100)} ${time} GMT`
  }
  return `${day.slice(0, 3)} ${month} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`
}
