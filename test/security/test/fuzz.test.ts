import { performance } from 'node:perf_hooks'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, it } from 'vitest'
import {
  base64Of,
  bigDecimal,
  byteText,
  controlText,
  fieldText,
  hostile,
  httpDate,
  list,
  mutated,
  oneHeaderLine,
  token,
  unicodeText,
  utf8Bytes,
} from './support/arbitraries.js'
import {
  ALLOWED_ORIGIN,
  API_KEY,
  Demo,
  decodedBody,
  isApiAnswer,
  isParserRefusal,
  keyState,
  PUBLIC_FILES,
  SESSION_SECRET,
  seen,
  signSessionId,
  UUID_V4,
  VALID_REQUEST_ID,
  violation,
} from './support/demo.js'
import { header, headerAll, type WireRequest, type WireResponse } from './support/wire.js'

/*
 * Property-based fuzzing of the full demo stack (examples/demo's createApp: logging, timing,
 * monitoring, compression, cors, session, static under /static, apiKey on /api) over real
 * sockets. For each listed header, and for request paths, fast-check generates values that
 * mix near-valid ones built from the header's grammar with arbitrary bytes, Unicode, head
 * splitting attempts, control characters and very long values; each one is sent on a
 * kept-alive connection as raw bytes (Node's own client refuses many of them) and the
 * response is read by a strict parser (support/wire.ts).
 *
 * Every case checks, through Demo.exchange (support/demo.ts): a well-formed HTTP/1.1
 * response, status < 500, no header name the demo does not send (a split head would add
 * one), no control character in any header value, single-valued headers once, no API answer
 * without the valid key, no file from outside public/, one access log line per response with
 * its status and the socket's address, and no raw control character in the log. Each
 * property adds what that header must do. After each property, the server must still answer
 * `GET /` with 200 on a new connection.
 *
 * SHALLOT_FUZZ_RUNS sets the cases per property (default 1,000; `pnpm fuzz` runs 10,000).
 * Every run prints its seed; SHALLOT_FUZZ_SEED (and SHALLOT_FUZZ_PATH, from a failure's
 * report) replays a run.
 */

failOnUnhandledRejections()

const RUNS = positiveInt('SHALLOT_FUZZ_RUNS', 1000)
const SEED = process.env.SHALLOT_FUZZ_SEED
  ? Number(process.env.SHALLOT_FUZZ_SEED)
  : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0
const REPLAY_PATH = process.env.SHALLOT_FUZZ_PATH || undefined
/** Per property: generous, as a shared 2-core machine may be slow; shrinking needs time too. */
const TIMEOUT = 60_000 + RUNS * 40

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be a positive integer, got ${raw}`)
  return n
}

let demo: Demo
/** What the first requests learnt: a live session cookie, the validators of hello.txt. */
let live: { cookie: string; etag: string; lastModified: string; mtime: number }
const figures: Array<{
  input: string
  cases: number
  exchanges: number
  seconds: number
  outcomes: string
}> = []

beforeAll(async () => {
  demo = await Demo.start()
  const home = await demo.exchange({ target: '/' })
  const setCookie = header(home, 'set-cookie') ?? ''
  const cookie = /^sid=([^;]+)/.exec(setCookie)?.[1]
  const file = await demo.exchange({ target: '/static/hello.txt' })
  const etag = header(file, 'etag')
  const lastModified = header(file, 'last-modified')
  if (cookie === undefined || etag === undefined || lastModified === undefined) {
    throw new Error('the demo did not send a session cookie, an ETag and a Last-Modified')
  }
  live = { cookie, etag, lastModified, mtime: Date.parse(lastModified) }
  console.log(
    `fuzz: ${RUNS} cases per input, seed ${SEED}${REPLAY_PATH ? `, path ${REPLAY_PATH}` : ''}`
  )
})

afterAll(async () => {
  if (figures.length > 0) {
    const total = figures.reduce((n, f) => n + f.cases, 0)
    const rows = figures.map(
      (f) =>
        `  ${f.input.padEnd(31)} ${String(f.cases).padStart(6)} cases ${String(f.exchanges).padStart(7)} requests ${f.seconds.toFixed(1).padStart(6)} s  (${f.outcomes})`
    )
    console.log(`fuzz figures (seed ${SEED}):\n${rows.join('\n')}\n  total: ${total} cases`)
  }
  await demo?.close()
})

/**
 * Runs one property: `check` gets each generated value and sends its requests through
 * `demo.exchange`, which checks what holds for every response. Afterwards the server must
 * still answer a well-formed request on a new connection.
 */
async function fuzz<T>(
  input: string,
  arb: fc.Arbitrary<T>,
  check: (value: T) => Promise<void>
): Promise<void> {
  const started = performance.now()
  const exchangesBefore = demo.exchanges
  demo.takeOutcomes()
  let cases = 0
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      cases++
      await check(value)
    }),
    { numRuns: RUNS, seed: SEED, ...(REPLAY_PATH ? { path: REPLAY_PATH } : {}) }
  )
  const figure = {
    input,
    cases,
    exchanges: demo.exchanges - exchangesBefore,
    seconds: (performance.now() - started) / 1000,
    outcomes: demo.takeOutcomes(),
  }
  await demo.stillAnswers()
  demo.takeOutcomes()
  figures.push(figure)
}

function fail(what: string, req: WireRequest, res: WireResponse): never {
  throw violation(what, req, res)
}

/** The status is one of `allowed`, or Node's own refusal of what its parser rejected. */
function expectStatus(req: WireRequest, res: WireResponse, ...allowed: number[]): void {
  if (isParserRefusal(res)) return
  if (!allowed.includes(res.status))
    fail(`status ${res.status}, expected ${allowed.join(' or ')}`, req, res)
}

/** Methods, weighted towards GET; POST and PUT with an empty body. */
const method = fc.constantFrom(
  'GET',
  'GET',
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'OPTIONS',
  'PATCH'
)

function withMethod(m: string, req: WireRequest): WireRequest {
  const headers = [...(req.headers ?? [])]
  if (m === 'POST' || m === 'PUT' || m === 'PATCH') headers.push(['Content-Length', '0'])
  return { ...req, method: m, headers }
}

/** Whether a canonical-looking path is /api or below (for the fixed paths used here). */
const isApiPath = (path: string) => path === '/api' || path.startsWith('/api/')

describe('fuzzing the demo stack, header by header', () => {
  it(
    'Cookie: tampered, forged, duplicated session cookies never adopt an id or reach a session',
    async () => {
      const valid = live.cookie
      const dot = valid.lastIndexOf('.')
      const validId = valid.slice(0, dot)
      const base64url = fc.string({
        unit: fc.constantFrom(
          ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
        ),
        maxLength: 140,
      })
      // Ids the attacker picks, signed with the server's secret (a leaked or guessed secret
      // must still not let a client choose its session id), with another secret, or unsigned.
      const forged = fc
        .tuple(base64url, fc.constantFrom('server', 'other', 'none', 'short', 'long'))
        .map(([id, how]) => {
          if (how === 'server') return signSessionId(id)
          if (how === 'other') return signSessionId(id, `${SESSION_SECRET}-not-it`)
          const sig = signSessionId(id).slice(id.length + 1)
          if (how === 'short') return `${id}.${sig.slice(1)}`
          if (how === 'long') return `${id}.${sig}A`
          return id
        })
      const tampered = mutated(fc.constant(valid))
      const sidValue = fc.oneof(
        { weight: 3, arbitrary: tampered },
        { weight: 3, arbitrary: forged },
        { weight: 1, arbitrary: fc.constant(valid) },
        { weight: 1, arbitrary: fc.constant(`${validId}.`) },
        { weight: 1, arbitrary: fc.constant(`"${valid}"`) },
        { weight: 1, arbitrary: fc.constant(encodeURIComponent(valid).replace('.', '%2E')) },
        { weight: 1, arbitrary: base64url }
      )
      const pair = fc.oneof(
        { weight: 4, arbitrary: sidValue.map((v) => `sid=${v}`) },
        { weight: 1, arbitrary: sidValue.map((v) => `SID=${v}`) },
        { weight: 1, arbitrary: sidValue.map((v) => ` sid = ${v} `) },
        { weight: 1, arbitrary: fc.constantFrom('sid', 'sid=', '=', '=sid', ';', 'sid==') },
        { weight: 1, arbitrary: fc.tuple(token, fieldText(20)).map(([n, v]) => `${n}=${v}`) }
      )
      const cookieHeader = fc
        .tuple(
          fc.array(pair, { minLength: 1, maxLength: 4 }),
          fc.constantFrom('; ', ';', ' ; ', ';;')
        )
        .map(([pairs, sep]) => pairs.join(sep))

      await fuzz('Cookie', hostile(cookieHeader), async (value) => {
        const req: WireRequest = { target: '/', headers: [['Cookie', value]] }
        const res = await demo.exchange(req)
        expectStatus(req, res, 200)
        if (isParserRefusal(res)) return
        const visits = /You have visited this page (\d+) times/.exec(res.body.toString('latin1'))
        if (visits === null) fail('the home page without its visit counter', req, res)
        if (Number(visits[1]) > 1 && !carriesCookie(value, valid)) {
          fail('a session was found without its valid cookie', req, res)
        }
        const setCookies = headerAll(res, 'set-cookie')
        if (setCookies.length > 1) fail(`${setCookies.length} Set-Cookie headers`, req, res)
        // A live session whose cookie is unchanged gets none; a new one always does.
        if (setCookies.length === 0) {
          if (!carriesCookie(value, valid)) fail('a new session without its cookie', req, res)
          return
        }
        const m =
          /^sid=([A-Za-z0-9_-]{16,128})\.[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/.exec(
            setCookies[0] as string
          )
        if (m === null) fail('a malformed session Set-Cookie', req, res)
        const id = m[1] as string
        if (id !== validId && value.includes(id)) fail('the client chose its session id', req, res)
        if (id === validId && !carriesCookie(value, valid)) {
          fail('the live session was reissued to a request without its cookie', req, res)
        }
      })
    },
    TIMEOUT
  )

  it(
    'Authorization (and X-API-Key): /api answers 401 with its challenge without the valid key, whatever else is sent',
    async () => {
      const credentials = fc.oneof(
        base64Of(
          fc.tuple(byteText(30), fc.constantFrom(':', ''), byteText(30)).map((p) => p.join(''))
        ),
        base64Of(
          fc.tuple(unicodeText(20), fc.constant(':'), unicodeText(20)).map((p) => p.join(''))
        ),
        // User names that would forge or colour a log line, were `:remote-user` not escaped.
        base64Of(fc.tuple(controlText, fc.constant(':'), fieldText(10)).map((p) => p.join(''))),
        base64Of(
          fc.constantFrom(
            '\x1b[31mred\x1b[0m:x',
            utf8Bytes('line\u2028separator:x'),
            utf8Bytes('next\u0085line:x'),
            'del\x7f:x',
            'nul\x00:x',
            'a\r\nb:c',
            'user\nFAKE LINE:x',
            'admin:test-key-123',
            ':'
          )
        ),
        fc.base64String({ maxLength: 80 }),
        fc
          .array(
            base64Of(byteText(40)).map((s) => s.replace(/=+$/, '')),
            { minLength: 3, maxLength: 3 }
          )
          .map((parts) => `eyJ${parts.join('.')}`),
        fc.constant(API_KEY),
        fieldText(60)
      )
      const authorization = fc
        .tuple(
          fc.constantFrom(
            'Basic',
            'basic',
            'BASIC',
            'Bearer',
            'bearer',
            'ApiKey',
            'Digest',
            'Token',
            ''
          ),
          fc.constantFrom(' ', '  ', '\t', ''),
          credentials
        )
        .map((p) => p.join(''))
      const apiKeyLines = fc.oneof(
        { weight: 4, arbitrary: fc.constant<Array<[string, string]>>([]) },
        { weight: 2, arbitrary: fc.constant<Array<[string, string]>>([['X-API-Key', API_KEY]]) },
        {
          weight: 4,
          arbitrary: hostile(
            fc.constantFrom(
              API_KEY,
              ` ${API_KEY}\t`,
              `${API_KEY}, ${API_KEY}`,
              `${API_KEY},`,
              API_KEY.toUpperCase(),
              `${API_KEY}4`,
              API_KEY.slice(0, -1),
              `${API_KEY}\x00`,
              utf8Bytes('test\u2010key\u2010123'),
              `Bearer ${API_KEY}`,
              `"${API_KEY}"`
            )
          ).map((v): Array<[string, string]> => [['X-API-Key', v]]),
        },
        {
          weight: 1,
          arbitrary: fc.constant<Array<[string, string]>>([
            ['X-API-Key', API_KEY],
            ['X-API-Key', API_KEY],
          ]),
        }
      )
      const path = fc.constantFrom(
        '/api/test',
        '/api/test',
        '/api/',
        '/api/nope',
        '/api?api_key=test-key-123',
        '/',
        '/stats'
      )
      await fuzz(
        'Authorization',
        fc.record({ value: hostile(authorization), keys: apiKeyLines, path, method }),
        async ({ value, keys, path, method: m }) => {
          const req = withMethod(m, { target: path, headers: [['Authorization', value], ...keys] })
          const res = await demo.exchange(req)
          if (isParserRefusal(res)) return
          const p = path.split('?')[0] as string
          const key = keyState(req)
          if (!isApiPath(p) || key === 'unknown') return
          if (key === 'invalid') {
            expectStatus(req, res, 401)
            if (
              header(res, 'www-authenticate') !== 'ApiKey realm="Restricted", header="x-api-key"'
            ) {
              fail('a 401 without the ApiKey challenge', req, res)
            }
          } else if (p === '/api/test') {
            expectStatus(req, res, 200)
            if (m !== 'HEAD' && !isApiAnswer(res))
              fail('the valid key did not get the API answer', req, res)
          } else {
            expectStatus(req, res, 404)
          }
        }
      )
    },
    TIMEOUT
  )

  it(
    'Range: 200, 206 with exactly the bytes named, or 416; never more than the file',
    async () => {
      const position = fc.oneof(
        { weight: 6, arbitrary: fc.nat(120).map(String) },
        { weight: 2, arbitrary: fc.constantFrom('0', '73', '74', '75', '457', '458', '459') },
        { weight: 1, arbitrary: fc.constantFrom('00', '0073', '') },
        { weight: 1, arbitrary: bigDecimal }
      )
      const spec = fc.oneof(
        { weight: 4, arbitrary: fc.tuple(position, position).map(([a, b]) => `${a}-${b}`) },
        { weight: 2, arbitrary: position.map((a) => `${a}-`) },
        { weight: 2, arbitrary: position.map((b) => `-${b}`) },
        {
          weight: 1,
          arbitrary: fc.constantFrom('-', '', '--1', '1--2', '1-2-3', '=1-2', ' 1 - 2 '),
        }
      )
      const specs = fc.oneof(
        { weight: 5, arbitrary: spec },
        { weight: 4, arbitrary: list(spec, 5) },
        {
          weight: 1,
          arbitrary: fc.array(spec, { minLength: 90, maxLength: 130 }).map((s) => s.join(',')),
        }
      )
      const unit = fc.oneof(
        { weight: 8, arbitrary: fc.constant('bytes') },
        {
          weight: 2,
          arbitrary: fc.constantFrom('Bytes', 'BYTES', 'bytes ', ' bytes', 'items', 'byte', ''),
        }
      )
      const equals = fc.oneof(
        { weight: 8, arbitrary: fc.constant('=') },
        { weight: 1, arbitrary: fc.constantFrom('==', ':', ' = ', '') }
      )
      const range = fc.tuple(unit, equals, specs).map((p) => p.join(''))
      const file = fc.constantFrom('hello.txt', 'style.css')
      await fuzz(
        'Range',
        fc.record({ value: hostile(range), file, head: fc.nat(4).map((n) => n === 0) }),
        async ({ value, file: name, head }) => {
          const req: WireRequest = {
            method: head ? 'HEAD' : 'GET',
            target: `/static/${name}`,
            headers: [['Range', value]],
          }
          const res = await demo.exchange(req)
          expectStatus(req, res, 200, 206, 416)
          if (isParserRefusal(res)) return
          const bytes = PUBLIC_FILES[name] as Buffer
          checkRangeAnswer(req, res, bytes, head)
          const v = seen(value)
          const expected =
            v === undefined
              ? undefined
              : head
                ? { status: 200 }
                : singleRangeOracle(v, bytes.length)
          if (expected !== undefined && expected.status !== res.status) {
            fail(`status ${res.status}, expected ${expected.status} for this range`, req, res)
          }
          if (expected?.range !== undefined) {
            const cr = `bytes ${expected.range[0]}-${expected.range[1]}/${bytes.length}`
            if (header(res, 'content-range') !== cr) fail(`Content-Range should be ${cr}`, req, res)
          }
        }
      )
    },
    TIMEOUT
  )

  it(
    'If-None-Match: 304 only when a tag matches (weak comparison) or for *, else 200',
    async () => {
      const etag = live.etag
      const opaque = etag.replace(/^W\//, '')
      const tag = fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(etag, opaque, `W/${opaque}`, '*') },
        { weight: 3, arbitrary: mutated(fc.constant(etag)) },
        {
          weight: 2,
          arbitrary: fc
            .tuple(
              fc.constantFrom('', 'W/', 'w/', 'W'),
              fieldText(20).map((s) => s.replace(/"/g, ''))
            )
            .map(([w, s]) => `${w}"${s}"`),
        },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '"',
            '""',
            'W/""',
            '"unterminated',
            'unquoted',
            'W/',
            ' * ',
            '**'
          ),
        }
      )
      const tags = fc.oneof(
        { weight: 8, arbitrary: list(tag, 5) },
        {
          weight: 1,
          arbitrary: fc
            .integer({ min: 60, max: 70 })
            .map((n) => [...Array.from({ length: n }, (_, i) => `"x${i}"`), etag].join(', ')),
        }
      )
      await fuzz('If-None-Match', hostile(tags), async (value) => {
        const req: WireRequest = {
          target: '/static/hello.txt',
          headers: [['If-None-Match', value]],
        }
        const res = await demo.exchange(req)
        expectStatus(req, res, 200, 304)
        if (isParserRefusal(res)) return
        if (res.status === 304 && !value.includes('*') && !value.includes(opaque)) {
          fail('304 although no tag matches', req, res)
        }
        const v = seen(value)
        if (v === undefined) return
        if (res.status === 304 && v !== '*' && !v.includes(opaque)) {
          fail('304 although no tag matches', req, res)
        }
        if ((v === etag || v === opaque || v === '*') && res.status !== 304) {
          fail('no 304 for a matching tag', req, res)
        }
        if (res.status === 304 && header(res, 'etag') !== etag)
          fail('a 304 without the ETag', req, res)
      })
    },
    TIMEOUT
  )

  it(
    'If-Modified-Since: 304 only for a valid date not before Last-Modified and not in the future',
    async () => {
      const mtime = live.mtime
      const instant = fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: -5, max: 5 }).map((s) => mtime + s * 1000) },
        {
          weight: 2,
          arbitrary: fc.integer({ min: -400, max: 400 }).map((d) => mtime + d * 86_400_000),
        },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 1, max: 3600 }).map((s) => Date.now() + s * 1000),
        },
        {
          weight: 2,
          arbitrary: fc
            .date({
              min: new Date(-62_135_596_800_000),
              max: new Date(253_402_300_799_000),
              noInvalidDate: true,
            })
            .map((d) => d.getTime()),
        }
      )
      const dated = fc.tuple(
        instant,
        fc.constantFrom('imf', 'imf', 'rfc850', 'asctime') as fc.Arbitrary<
          'imf' | 'rfc850' | 'asctime'
        >
      )
      const date = fc.oneof(
        { weight: 6, arbitrary: dated.map(([ms, form]) => httpDate(ms, form)) },
        { weight: 1, arbitrary: fc.constant(live.lastModified) },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            new Date(mtime).toISOString(),
            String(mtime),
            String(mtime / 1000),
            live.lastModified.toLowerCase(),
            live.lastModified.replace('GMT', 'PST'),
            live.lastModified.replace('GMT', '+0000'),
            live.lastModified.replace(/ /g, '  '),
            'Mon, 30 Feb 2026 00:00:00 GMT',
            'Thu, 01 Jan 1970 00:00:00 GMT',
            'Fri, 31 Dec 9999 23:59:59 GMT',
            'Sat, 13 Sep 275760 00:00:00 GMT',
            'Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT',
            'Tue, 99 Foo 2026 99:99:99 GMT'
          ),
        }
      )
      await fuzz('If-Modified-Since', hostile(date), async (value) => {
        const req: WireRequest = {
          target: '/static/hello.txt',
          headers: [['If-Modified-Since', value]],
        }
        const sent = Date.now()
        const res = await demo.exchange(req)
        expectStatus(req, res, 200, 304)
        if (isParserRefusal(res)) return
        const v = seen(value)
        if (v === undefined) return
        const when = Date.parse(v)
        if (res.status === 304 && !(when >= mtime))
          fail('304 for a date before Last-Modified or no date', req, res)
        if (v === live.lastModified && res.status !== 304)
          fail('no 304 for Last-Modified itself', req, res)
        // IMF-fixdates generated here: the answer is decided (away from "now", which moves).
        if (v === new Date(when).toUTCString() && Math.abs(when - sent) > 5_000) {
          const expected = when >= mtime && when <= sent ? 304 : 200
          if (res.status !== expected) fail(`status ${res.status}, expected ${expected}`, req, res)
        }
      })
    },
    TIMEOUT
  )

  it(
    'If-Range: the range is honoured only for the exact Last-Modified (the ETag is weak)',
    async () => {
      const etag = live.etag
      const opaque = etag.replace(/^W\//, '')
      const mtime = live.mtime
      const value = fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(etag, opaque, live.lastModified, `W/${opaque}`) },
        {
          weight: 2,
          arbitrary: fc
            .constantFrom<'rfc850' | 'asctime' | 'imf'>('rfc850', 'asctime', 'imf')
            .map((f) => httpDate(mtime, f)),
        },
        {
          weight: 2,
          arbitrary: fc.integer({ min: -3, max: 3 }).map((s) => httpDate(mtime + s * 1000, 'imf')),
        },
        { weight: 3, arbitrary: mutated(fc.constantFrom(etag, live.lastModified)) },
        { weight: 1, arbitrary: fc.constantFrom('*', '""', 'W/', `${opaque}, ${opaque}`) }
      )
      const range = fc.constantFrom('bytes=0-9', 'bytes=-5', 'bytes=10-', 'bytes=0-0,5-9')
      await fuzz(
        'If-Range',
        fc.record({ value: hostile(value), range }),
        async ({ value: v, range: r }) => {
          const req: WireRequest = {
            target: '/static/hello.txt',
            headers: [
              ['Range', r],
              ['If-Range', v],
            ],
          }
          const res = await demo.exchange(req)
          expectStatus(req, res, 200, 206)
          if (isParserRefusal(res)) return
          const file = PUBLIC_FILES['hello.txt'] as Buffer
          checkRangeAnswer(req, res, file, false)
          const t = seen(v)
          if (t === undefined) return
          if (res.status === 206 && Date.parse(t) !== mtime)
            fail('206 although If-Range does not hold', req, res)
          if (t === live.lastModified && res.status !== 206)
            fail('no 206 for If-Range: Last-Modified', req, res)
        }
      )
    },
    TIMEOUT
  )

  it(
    'Origin: CORS headers for exactly http://localhost:3000, for nothing that merely looks like it',
    async () => {
      const scheme = fc.constantFrom('http', 'http', 'https', 'HTTP', 'ws', 'file', 'null', '')
      const sep = fc.constantFrom('://', '://', ':/', ':///', '//', ':')
      const host = fc.constantFrom(
        'localhost',
        'localhost',
        'LOCALHOST',
        'localhost.',
        '127.0.0.1',
        '[::1]',
        'localhost.evil.example',
        'evil.example',
        'evillocalhost',
        'evil.example@localhost',
        'localhost:3000@evil.example',
        utf8Bytes('l\u043ecalhost'), // Cyrillic о
        utf8Bytes('ｌocalhost'),
        'xn--localhost-',
        'localhost%00',
        'localhost\t'
      )
      const port = fc.constantFrom(
        ':3000',
        ':3000',
        ':3001',
        ':03000',
        ':80',
        '',
        ':',
        ':65536',
        ':3000:3000',
        ' :3000'
      )
      const tail = fc.constantFrom(
        '',
        '',
        '',
        '/',
        '/path',
        '?',
        '#',
        '.evil.example',
        ' ',
        ', http://evil.example',
        '%0d%0aX-Shallot-Injected: 1'
      )
      const origin = fc.oneof(
        { weight: 3, arbitrary: fc.constant(ALLOWED_ORIGIN) },
        { weight: 8, arbitrary: fc.tuple(scheme, sep, host, port, tail).map((p) => p.join('')) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            'null',
            'NULL',
            '*',
            '',
            ' ',
            `${ALLOWED_ORIGIN}, ${ALLOWED_ORIGIN}`
          ),
        }
      )
      const target = fc.constantFrom('/', '/api/test', '/static/hello.txt', '/nope')
      await fuzz(
        'Origin',
        fc.record({ value: hostile(origin), target, preflight: fc.boolean(), twice: fc.boolean() }),
        async ({ value, target: t, preflight, twice }) => {
          const headers: Array<[string, string]> = [['Origin', value]]
          if (twice) headers.push(['Origin', value])
          if (preflight) headers.push(['Access-Control-Request-Method', 'GET'])
          const req: WireRequest = { method: preflight ? 'OPTIONS' : 'GET', target: t, headers }
          const res = await demo.exchange(req)
          if (isParserRefusal(res)) return
          const v = seen(value)
          const acao = headerAll(res, 'access-control-allow-origin')
          if (acao.some((a) => a !== ALLOWED_ORIGIN)) fail('CORS allowed another origin', req, res)
          if (v === undefined) return
          const allowed = !twice && v === ALLOWED_ORIGIN
          if (allowed) {
            if (acao.length !== 1 || acao[0] !== ALLOWED_ORIGIN)
              fail('the allowed origin got no CORS headers', req, res)
            if (header(res, 'access-control-allow-credentials') !== 'true') {
              fail('no Access-Control-Allow-Credentials for the allowed origin', req, res)
            }
          } else {
            const cors = res.headers.filter(([n]) => n.toLowerCase().startsWith('access-control-'))
            if (cors.length > 0) fail('CORS headers for an origin that is not allowed', req, res)
          }
          const vary = (header(res, 'vary') ?? '').toLowerCase()
          if (!/(^|, ?)origin(,|$)/.test(vary)) fail('no Vary: Origin', req, res)
          if (preflight) expectStatus(req, res, 204)
        }
      )
    },
    TIMEOUT
  )

  it(
    'Access-Control-Request-Headers: reflected only as a clean list of the tokens asked for',
    async () => {
      const name = fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom(
            'content-type',
            'X-API-Key',
            'authorization',
            'X-Requested-With',
            'x-request-id'
          ),
        },
        { weight: 3, arbitrary: token },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            'a b',
            'a@b',
            '(x)',
            '"x"',
            'x:y',
            'x/y',
            '{}',
            'é',
            utf8Bytes('ẋ'),
            'x\ty',
            ''
          ),
        }
      )
      const acrh = fc.oneof(
        { weight: 8, arbitrary: list(name, 6) },
        {
          weight: 1,
          arbitrary: fc.array(token, { minLength: 60, maxLength: 70 }).map((n) => n.join(',')),
        }
      )
      await fuzz(
        'Access-Control-Request-Headers',
        fc.record({
          value: hostile(acrh),
          origin: fc.constantFrom(
            ALLOWED_ORIGIN,
            ALLOWED_ORIGIN,
            ALLOWED_ORIGIN,
            'http://evil.example'
          ),
          requestMethod: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'get', 'X-CUSTOM'),
          target: fc.constantFrom('/api/test', '/', '/static/hello.txt'),
        }),
        async ({ value, origin, requestMethod, target }) => {
          const req: WireRequest = {
            method: 'OPTIONS',
            target,
            headers: [
              ['Origin', origin],
              ['Access-Control-Request-Method', requestMethod],
              ['Access-Control-Request-Headers', value],
            ],
          }
          const res = await demo.exchange(req)
          expectStatus(req, res, 204)
          if (isParserRefusal(res)) return
          if (res.body.length > 0) fail('a preflight answer with a body', req, res)
          const acah = header(res, 'access-control-allow-headers')
          if (origin !== ALLOWED_ORIGIN) {
            if (res.headers.some(([n]) => n.toLowerCase().startsWith('access-control-'))) {
              fail('CORS headers on the preflight of a refused origin', req, res)
            }
            return
          }
          const v = seen(value)
          if (v === undefined) return
          const asked = v
            .split(',')
            .map((s) => s.trim().toLowerCase())
            .filter((s) => s !== '')
          const tokens = /^[!#$%&'*+.^_`|~0-9a-z-]+$/
          const clean = asked.length > 0 && asked.every((s) => tokens.test(s))
          const distinct = [...new Set(asked)]
          if (clean && distinct.length <= 64) {
            if (acah !== distinct.join(', '))
              fail(`Access-Control-Allow-Headers should be ${distinct.join(', ')}`, req, res)
          } else if (acah !== undefined) {
            fail('Access-Control-Allow-Headers for a list that is not clean', req, res)
          }
        }
      )
    },
    TIMEOUT
  )

  it(
    'Accept-Encoding: a coding the client named (or *), that decodes to the same page',
    async () => {
      const coding = fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('gzip', 'br', 'deflate', 'identity', '*') },
        {
          weight: 1,
          arbitrary: fc.constantFrom('GZIP', 'x-gzip', 'zstd', 'compress', 'Br', 'gzip2', ''),
        },
        { weight: 1, arbitrary: token }
      )
      const q = fc.constantFrom(
        '',
        '',
        '',
        ';q=0',
        ';q=1',
        ';q=0.5',
        ';q=1.0',
        ';q=0.000',
        ';q=1.001',
        ';q=-1',
        ';q=abc',
        ';Q=0.8',
        ' ; q=0',
        ';q=',
        ';q=0.5;q=1',
        ';level=1',
        ';q=0.0001'
      )
      const element = fc.tuple(coding, q).map(([c, w]) => c + w)
      const acceptEncoding = fc.oneof(
        { weight: 8, arbitrary: list(element, 6) },
        {
          weight: 1,
          arbitrary: fc.array(element, { minLength: 60, maxLength: 200 }).map((e) => e.join(',')),
        }
      )
      const target = fc.constantFrom(
        '/',
        '/',
        '/stats',
        '/metrics',
        '/static/style.css',
        '/static/hello.txt'
      )
      await fuzz(
        'Accept-Encoding',
        fc.record({ value: hostile(acceptEncoding), target, head: fc.nat(4).map((n) => n === 0) }),
        async ({ value, target: t, head }) => {
          const req: WireRequest = {
            method: head ? 'HEAD' : 'GET',
            target: t,
            headers: [['Accept-Encoding', value]],
          }
          const res = await demo.exchange(req)
          if (t.startsWith('/static/')) expectStatus(req, res, 200, 406)
          else expectStatus(req, res, 200)
          if (isParserRefusal(res)) return
          const ce = header(res, 'content-encoding')
          demo.note(`encoding ${ce ?? 'identity'}`)
          if (ce !== undefined) {
            const named = value.toLowerCase()
            if (!named.includes(ce.toLowerCase()) && !named.includes('*')) {
              fail(`Content-Encoding ${ce}, which the client did not name`, req, res)
            }
          }
          if (t === '/' && !head) {
            const page = decodedBodyText(res)
            if (!page.startsWith('<!doctype html>') || !page.endsWith('</html>\n')) {
              fail('the home page does not decode whole', req, res)
            }
          }
        }
      )
    },
    TIMEOUT
  )

  it(
    'X-Forwarded-For (and -Proto, -Host): never believed, so never the logged address, a Secure cookie or the page host',
    async () => {
      const element = fc.oneof(
        { weight: 3, arbitrary: fc.ipV4() },
        { weight: 2, arbitrary: fc.ipV6() },
        { weight: 1, arbitrary: fc.ipV4Extended() },
        { weight: 1, arbitrary: fc.ipV6().map((ip) => `[${ip}]:${8080}`) },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            'unknown',
            '_hidden',
            '127.0.0.1',
            '::1',
            '::ffff:10.0.0.1',
            'fe80::1%eth0',
            '999.999.999.999',
            '1.2.3.4:8080',
            'for=1.2.3.4',
            '',
            ' ',
            '0x7f.1',
            '2130706433'
          ),
        },
        { weight: 1, arbitrary: fieldText(20) }
      )
      const xff = fc.oneof(
        { weight: 8, arbitrary: list(element, 6) },
        {
          weight: 1,
          arbitrary: fc
            .array(fc.ipV4(), { minLength: 100, maxLength: 1200 })
            .map((a) => a.join(', ')),
        }
      )
      await fuzz(
        'X-Forwarded-For',
        fc.record({
          value: hostile(xff),
          proto: fc.option(fc.constantFrom('https', 'HTTPS', 'https, http', 'wss', '')),
          forwardedHost: fc.option(
            fc.constantFrom('evil.example', 'evil.example:443', '<b>x</b>', 'a b')
          ),
          target: fc.constantFrom('/', '/', '/api/test', '/stats'),
        }),
        async ({ value, proto, forwardedHost, target }) => {
          const headers: Array<[string, string]> = [['X-Forwarded-For', value]]
          if (proto !== null) headers.push(['X-Forwarded-Proto', proto])
          if (forwardedHost !== null) headers.push(['X-Forwarded-Host', forwardedHost])
          const req: WireRequest = { target, headers }
          const res = await demo.exchange(req)
          if (isParserRefusal(res)) return
          if (target === '/api/test') expectStatus(req, res, 401)
          else expectStatus(req, res, 200)
          for (const c of headerAll(res, 'set-cookie')) {
            if (/;\s*secure/i.test(c)) fail('a Secure cookie from a forwarded protocol', req, res)
          }
          if (
            target === '/' &&
            !res.body.toString('latin1').includes(`http://127.0.0.1:${demo.port}/api/test`)
          ) {
            fail('the home page does not show the Host the client used', req, res)
          }
        }
      )
    },
    TIMEOUT
  )

  it(
    'X-Request-Id: echoed only when it is a valid id, else replaced by a UUID',
    async () => {
      const idChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:+=/'
      const validId = fc.string({ unit: fc.constantFrom(...idChars), minLength: 1, maxLength: 128 })
      const printable = fc.string({
        unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
        minLength: 1,
        maxLength: 40,
      })
      const id = fc.oneof(
        { weight: 4, arbitrary: validId },
        { weight: 1, arbitrary: fc.uuid() },
        {
          weight: 1,
          arbitrary: fc.string({
            unit: fc.constantFrom(...idChars),
            minLength: 129,
            maxLength: 400,
          }),
        },
        { weight: 3, arbitrary: printable },
        {
          weight: 2,
          arbitrary: fc
            .tuple(
              validId,
              fc.constantFrom(' ', ',', '"', ';', '%', '<', '\\', '\t', 'é', '\xff', '%0d%0a'),
              validId
            )
            .map((p) => p.join('')),
        }
      )
      await fuzz(
        'X-Request-Id',
        fc.record({
          value: hostile(id),
          twice: fc.boolean(),
          target: fc.constantFrom('/', '/api/test', '/nope', '/%zz'),
        }),
        async ({ value, twice, target }) => {
          const headers: Array<[string, string]> = [['X-Request-Id', value]]
          if (twice) headers.push(['X-Request-Id', value])
          const req: WireRequest = { target, headers }
          const res = await demo.exchange(req)
          if (isParserRefusal(res)) return
          const sent = seen(value)
          const got = header(res, 'x-request-id') as string
          if (sent === undefined) return
          if (!twice && VALID_REQUEST_ID.test(sent)) {
            if (got !== sent) fail('a valid request id was not kept', req, res)
          } else if (!UUID_V4.test(got)) {
            fail('an invalid request id was not replaced by a UUID', req, res)
          }
        }
      )
    },
    TIMEOUT
  )

  it(
    'request paths: the stack refuses what it cannot canonicalise, and no form of /api gets past the key',
    async () => {
      const segment = fc.oneof(
        {
          weight: 6,
          arbitrary: fc.constantFrom(
            'api',
            'test',
            'static',
            'hello.txt',
            'style.css',
            '.',
            '..',
            '',
            '%2e',
            '%2E%2e',
            '.%2e',
            '%2f',
            '%2F',
            '%5c',
            '%00',
            '%0a',
            '%61pi',
            'API',
            'Api',
            'api;x',
            'api%3Bx',
            '%',
            '%zz',
            '%4',
            '%c0%af',
            '%ff',
            '%e2%80%ae',
            '%ef%bc%8f',
            '.env',
            '.git',
            'package.json',
            '..%2f..%2fpackage.json',
            '_monitor',
            'metrics',
            'stats',
            'healthz',
            'readyz',
            'C:',
            '~',
            '\\..',
            '*'
          ),
        },
        {
          weight: 2,
          arbitrary: fc.stringMatching(/^[A-Za-z0-9\-._~!$&'()*+,;=:@|^[\]]{1,12}$/),
        },
        {
          weight: 2,
          arbitrary: fc
            .array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 })
            .map((bytes) => bytes.map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
        },
        { weight: 1, arbitrary: byteText(8) },
        { weight: 1, arbitrary: unicodeText(6) }
      )
      const pathText = fc
        .tuple(
          fc.array(segment, { minLength: 0, maxLength: 7 }),
          fc.constantFrom('/', '/', '/', '//', '\\', '/./'),
          fc.boolean()
        )
        .map(([segs, sep, trailing]) => `/${segs.join(sep)}${trailing ? '/' : ''}`)
      const query = fc.oneof(
        fc.constant(''),
        fc.constant('?api_key=test-key-123'),
        fc.constant('?x-api-key=test-key-123'),
        fieldText(30).map((q) => `?${q.replace(/[ #]/g, '')}`)
      )
      const prefix = fc.constantFrom(
        '',
        '',
        '',
        '',
        'http://localhost',
        'HTTP://evil.example:80',
        'https://x',
        'http://',
        'ftp://x'
      )
      const arbitraryTarget = fc.oneof(
        { weight: 10, arbitrary: fc.tuple(prefix, pathText, query).map((p) => p.join('')) },
        { weight: 2, arbitrary: byteText(60).map(oneHeaderLine) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '*',
            '',
            'api/test',
            '/api/test#x',
            '?',
            '/?',
            '%2fapi/test',
            '//'
          ),
        },
        {
          weight: 1,
          arbitrary: fc
            .tuple(segment, fc.integer({ min: 200, max: 3000 }))
            .map(([s, n]) => `/${Array.from({ length: n }, () => s || 'a').join('/')}`),
        }
      )
      // Forms whose canonical path is /api/test: percent-encoded letters, `.`/`..` and
      // empty segments, absolute-form. Without the key they must be a 401, with it the API.
      const encodeSome = (word: string, mask: number) =>
        [...word].map((c, i) => ((mask >> i) & 1 ? `%${c.charCodeAt(0).toString(16)}` : c)).join('')
      const apiForm = fc
        .tuple(
          fc.constantFrom('', 'http://localhost', 'HTTP://Other.Example:8080'),
          fc.constantFrom(
            '/',
            '//',
            '/./',
            '/x/../',
            '/x/y/../../',
            '/x/%2e%2e/',
            '/%2e/',
            '/x/.%2E/'
          ),
          fc.nat(7),
          fc.constantFrom('/', '//', '/./', '/z/../', '/%2E/'),
          fc.nat(15),
          fc.constantFrom('', '?q=1', '?a=%2F')
        )
        .map(
          ([pre, lead, m1, mid, m2, q]) =>
            `${pre}${lead}${encodeSome('api', m1)}${mid}${encodeSome('test', m2)}${q}`
        )

      await fuzz(
        'request path',
        fc.oneof(
          {
            weight: 4,
            arbitrary: fc.record({
              kind: fc.constant('any' as const),
              target: arbitraryTarget,
              method,
            }),
          },
          {
            weight: 1,
            arbitrary: fc.record({
              kind: fc.constant('api' as const),
              target: apiForm,
              method,
            }),
          }
        ),
        async ({ kind, target, method: m }) => {
          const req = withMethod(m, { target })
          const res = await demo.exchange(req)
          if (isParserRefusal(res)) return
          const rawPath = pathPart(target)
          if (rawPath !== undefined && mustRefuse(rawPath)) expectStatus(req, res, 400)
          if (kind === 'api') {
            expectStatus(req, res, 401)
            const withKey: WireRequest = { target, headers: [['X-API-Key', API_KEY]] }
            const keyed = await demo.exchange(withKey)
            if (keyed.status !== 200 || !isApiAnswer(keyed)) {
              fail('a form of /api/test did not reach the API with the key', withKey, keyed)
            }
            return
          }
          // Anything answered 2xx without the key: the same target with the key must not be the
          // API (that would be a protected resource served without the key, e.g. on HEAD).
          if (res.status >= 200 && res.status < 300) {
            const withKey: WireRequest = { target, headers: [['X-API-Key', API_KEY]] }
            const keyed = await demo.exchange(withKey)
            if (isApiAnswer(keyed))
              fail(
                `${m} answered ${res.status} without the key where GET with it is the API`,
                req,
                res
              )
          }
        }
      )
    },
    TIMEOUT
  )
})

/** Whether a Cookie header carries the live session's cookie (raw or percent-encoded). */
function carriesCookie(header: string, valid: string): boolean {
  if (header.includes(valid)) return true
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1 || pair.slice(0, eq).trim() !== 'sid') continue
    let v = pair.slice(eq + 1).trim()
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1)
    try {
      if (decodeURIComponent(v) === valid) return true
    } catch {
      // not percent-encoded text
    }
  }
  return false
}

/** The body as text, without its content coding (Demo.exchange checked that it decodes). */
function decodedBodyText(res: WireResponse): string {
  return decodedBody(res).toString('utf8')
}

/** The path of an origin-form or absolute-form target, before the query; else undefined. */
function pathPart(target: string): string | undefined {
  let t = target
  const abs = /^https?:\/\/[^/?#]*/i.exec(t)
  if (abs !== null) t = t.slice(abs[0].length) || '/'
  if (!t.startsWith('/')) return undefined
  const q = t.indexOf('?')
  return q === -1 ? t : t.slice(0, q)
}

/** What the stack documents it refuses with 400: bad or forbidden percent-encoding, `\`. */
function mustRefuse(path: string): boolean {
  return (
    /%(?![0-9A-Fa-f]{2})/.test(path) ||
    /%(2f|5c|0[0-9a-f]|1[0-9a-f]|7f)/i.test(path) ||
    path.includes('\\')
  )
}

/**
 * The answer to a Range request, checked against the file: a 200 with all of it, a 206 with
 * exactly the bytes its Content-Range (or each multipart part) names, merged and in order,
 * or a 416 with `bytes *\/size`.
 */
function checkRangeAnswer(req: WireRequest, res: WireResponse, file: Buffer, head: boolean): void {
  const size = file.length
  if (res.status === 200) {
    if (!head && !res.body.equals(file)) fail('a 200 that is not the whole file', req, res)
    return
  }
  if (res.status === 416) {
    if (header(res, 'content-range') !== `bytes */${size}`)
      fail('a 416 without Content-Range bytes */size', req, res)
    return
  }
  if (res.status !== 206) return
  const type = header(res, 'content-type') ?? ''
  const boundary = /^multipart\/byteranges; boundary=([^\s;]+)$/.exec(type)?.[1]
  if (boundary === undefined) {
    const r = parseContentRange(header(res, 'content-range'), size)
    if (r === undefined) fail('a 206 without a valid Content-Range', req, res)
    if (!res.body.equals(file.subarray(r[0], r[1] + 1)))
      fail('206 bytes that are not the range named', req, res)
    return
  }
  const parts = res.body.toString('latin1').split(`--${boundary}`)
  if (parts[0] !== '' || !(parts.at(-1) ?? '').startsWith('--'))
    fail('a malformed multipart body', req, res)
  let last = -2
  const inner = parts.slice(1, -1)
  if (inner.length < 2 || inner.length > 16)
    fail(`${inner.length} parts in a multipart 206`, req, res)
  for (const part of inner) {
    const m = /^\r\n((?:[^\r\n]+\r\n)*)\r\n([\s\S]*)\r\n$/.exec(part)
    if (m === null) fail('a malformed multipart part', req, res)
    const cr = /(?:^|\r\n)content-range: ([^\r\n]+)/i.exec(`\r\n${m[1]}`)?.[1]
    const r = parseContentRange(cr, size)
    if (r === undefined) fail('a part without a valid Content-Range', req, res)
    if (r[0] <= last + 1) fail('parts overlapping, adjacent or out of order', req, res)
    last = r[1]
    if (Buffer.from(m[2] as string, 'latin1').compare(file, r[0], r[1] + 1) !== 0) {
      fail('a part whose bytes are not the range named', req, res)
    }
  }
}

function parseContentRange(value: string | undefined, size: number): [number, number] | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value ?? '')
  if (m === null) return undefined
  const a = Number(m[1])
  const b = Number(m[2])
  if (Number(m[3]) !== size || a > b || b >= size) return undefined
  return [a, b]
}

/**
 * RFC 9110 §14.1.2 for one plain range `bytes=first-last`, `bytes=first-` or `bytes=-suffix`
 * (decimal, at most 15 digits): the status and range it must get. Undefined for anything
 * else, which checkRangeAnswer judges.
 */
function singleRangeOracle(
  value: string,
  size: number
): { status: number; range?: [number, number] } | undefined {
  const m = /^bytes=(\d{1,15})?-(\d{1,15})?$/.exec(value)
  if (m === null) return undefined
  const first = m[1] === undefined ? undefined : Number(m[1])
  const last = m[2] === undefined ? undefined : Number(m[2])
  if (first === undefined && last === undefined) return { status: 200 }
  if (first === undefined) {
    const n = last as number
    return n === 0 ? { status: 416 } : { status: 206, range: [Math.max(0, size - n), size - 1] }
  }
  if (last !== undefined && last < first) return { status: 200 }
  if (first >= size) return { status: 416 }
  return { status: 206, range: [first, Math.min(last ?? size - 1, size - 1)] }
}
