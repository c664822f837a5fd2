/*
 * morgan's format strings (`:method :url :status`), compiled once, at start-up, into a list
 * of closures: no eval, no `new Function` (morgan's compiler generates JavaScript).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { formatDecimal } from '@shallot/stack'
import { clfDate, isoDate, webDate } from './clock.js'
import { type Entry, sentStatus } from './entry.js'
import { escapeText } from './escape.js'
import { basicUser, referrerOf, requestHeader, responseHeader } from './record.js'
import { type QueryRedactor, redactUrl } from './redact.js'

/** What is hidden from the log. @internal */
export interface Redaction {
  /** Lower-case header names whose values read `[REDACTED]`. */
  readonly headers: ReadonlySet<string>
  readonly query: QueryRedactor
}

/**
 * A custom token for format strings: returns the value to print (escaped for you), or
 * undefined / `''` for `-`. `arg` is the text between brackets in `:name[arg]`.
 */
export type TokenFunction = (
  req: IncomingMessage,
  res: ServerResponse,
  arg: string | undefined
) => string | number | undefined

/** What the compiled tokens read beside the request and response. @internal */
export interface TokenContext {
  readonly redaction: Redaction
  /** The client's address for the log. */
  remote(req: IncomingMessage, e: Entry): string | undefined
  readonly custom: Readonly<Record<string, TokenFunction>>
}

/** A compiled token: the text to put in the line, already escaped, `-` when empty. @internal */
export type Part = (req: IncomingMessage, res: ServerResponse, e: Entry) => string

/** A compiled line. @internal */
export type LineFormat = (req: IncomingMessage, res: ServerResponse, e: Entry) => string

type Raw = (req: IncomingMessage, res: ServerResponse, e: Entry) => string | undefined

/** What a format needs the layer to measure for it. @internal */
export interface Needs {
  /** The time of the head (`:response-time`, `:total-time`). */
  head: boolean
  /** The arrival and end times (durations); a line that prints none skips the clock. */
  time: boolean
  /** The remote address (read early: the socket may be gone at the end). */
  remote: boolean
  /** The body bytes of the response (the stack's `countBodyBytes`). */
  bytes: boolean
}

/** The token names morgan defines, plus ours. */
export const TOKEN_NAMES: readonly string[] = [
  'date',
  'http-version',
  'method',
  'pid',
  'referrer',
  'remote-addr',
  'remote-user',
  'req',
  'request-id',
  'res',
  'response-time',
  'status',
  'total-time',
  'trace-id',
  'url',
  'user-agent',
]

/** Thrown for a bad format string; the caller names the option. @internal */
export class FormatError extends Error {}

/** `-` for nothing, the escaped text otherwise (morgan: `(token(req, res) || "-")`). */
function escaped(raw: Raw): Part {
  return (req, res, e) => {
    const v = raw(req, res, e)
    return v === undefined || v === '' ? '-' : escapeText(v)
  }
}

/** For values that cannot hold anything to escape (numbers, validated ids, dates). */
function trusted(raw: Raw): Part {
  return (req, res, e) => {
    const v = raw(req, res, e)
    return v === undefined || v === '' ? '-' : v
  }
}

function digitsOf(name: string, arg: string | undefined): number {
  if (arg === undefined) return 3
  if (!/^\d{1,2}$/.test(arg) || Number(arg) > 20) {
    throw new FormatError(`has ":${name}[${arg}]": the digits must be an integer from 0 to 20`)
  }
  return Number(arg)
}

function headerArg(name: string, arg: string | undefined): string {
  if (arg === undefined || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(arg)) {
    throw new FormatError(
      `has ":${name}${arg === undefined ? '' : `[${arg}]`}": it needs a header name, as in ":${name}[content-length]"`
    )
  }
  return arg.toLowerCase()
}

/** Compiles one token into a Part. Throws FormatError for an unknown token or a bad argument. @internal */
export function compileToken(
  name: string,
  arg: string | undefined,
  ctx: TokenContext,
  needs: Needs
): Part {
  const custom = Object.hasOwn(ctx.custom, name) ? ctx.custom[name] : undefined
  if (custom !== undefined) {
    return escaped((req, res) => {
      const v = custom(req, res, arg)
      return v === undefined || v === null ? undefined : String(v)
    })
  }
  const { redaction } = ctx
  switch (name) {
    case 'url':
      return escaped((_req, _res, e) => redactUrl(e.url, redaction.query))
    case 'method':
      return escaped((req) => req.method)
    case 'status':
      return trusted((_req, res) => {
        const s = sentStatus(res)
        return s === undefined ? undefined : String(s)
      })
    case 'response-time': {
      const digits = digitsOf(name, arg)
      needs.head = true
      needs.time = true
      return trusted((_req, _res, e) =>
        e.head < 0 ? undefined : formatDecimal(e.head - e.start, digits)
      )
    }
    case 'total-time': {
      const digits = digitsOf(name, arg)
      needs.head = true
      needs.time = true
      // morgan prints "-" until the head is written.
      return trusted((_req, _res, e) =>
        e.head < 0 ? undefined : formatDecimal(performance.now() - e.start, digits)
      )
    }
    case 'date': {
      const kind = arg ?? 'web'
      if (kind === 'clf') return trusted((_req, _res, e) => clfDate(e.time))
      if (kind === 'iso') return trusted((_req, _res, e) => isoDate(e.time))
      if (kind === 'web') return trusted((_req, _res, e) => webDate(e.time))
      throw new FormatError(`has ":date[${kind}]": the date format must be clf, iso or web`)
    }
    case 'referrer':
      return escaped((req) => referrerOf(req, redaction))
    case 'remote-addr':
      needs.remote = true
      return escaped((req, _res, e) => ctx.remote(req, e))
    case 'remote-user':
      return escaped((req) => basicUser(req.headers.authorization))
    case 'pid': {
      const pid = String(process.pid)
      return () => pid
    }
    case 'http-version':
      return trusted((req) => `${req.httpVersionMajor}.${req.httpVersionMinor}`)
    case 'user-agent':
      return escaped((req) => req.headers['user-agent'])
    case 'req': {
      const header = headerArg(name, arg)
      return escaped((req) => requestHeader(req, header, redaction))
    }
    case 'res': {
      const header = headerArg(name, arg)
      return escaped((_req, res) => responseHeader(res, header, redaction))
    }
    case 'request-id':
      return trusted((_req, _res, e) => e.requestId)
    case 'trace-id':
      return trusted((_req, _res, e) => e.traceId)
    default:
      throw new FormatError(
        `has an unknown token ":${name}" (known: ${TOKEN_NAMES.map((t) => `:${t}`).join(', ')}; add your own with the "tokens" option)`
      )
  }
}

// morgan's token syntax: `:name` or `:name[arg]`, a name of two or more [-\w].
const TOKEN = /:([-\w]{2,})(?:\[([^\]]+)\])?/g

/** Compiles a format string into a line function. Throws FormatError. @internal */
export function compileFormat(format: string, ctx: TokenContext, needs: Needs): LineFormat {
  const literals: string[] = []
  const parts: Part[] = []
  let last = 0
  for (const m of format.matchAll(TOKEN)) {
    literals.push(format.slice(last, m.index))
    parts.push(compileToken(m[1] as string, m[2], ctx, needs))
    last = m.index + m[0].length
  }
  literals.push(format.slice(last))
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters
  if (/[\u0000-\u001f\u007f]/.test(literals.join(''))) {
    throw new FormatError(
      'has a control character (a line break, ESC...): a line must stay one line'
    )
  }
  const n = parts.length
  const first = literals[0] as string
  return function line(req, res, e) {
    let s = first
    for (let i = 0; i < n; i++) {
      s += (parts[i] as Part)(req, res, e)
      s += literals[i + 1] as string
    }
    return s
  }
}
