/*
 * The predefined formats. The text ones are morgan's format strings, compiled by our
 * compiler, so they print byte for byte what morgan 1.12 prints for the same exchange
 * (except `:url`, which is the target as the client sent it with secrets hidden, and
 * `:remote-addr`, which is `getClient(req).ip`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { formatDecimal } from '@shallot/stack'
import { clfDate, isoDate } from './clock.js'
import { bodiless, type Entry, type LogLevel, sentStatus } from './entry.js'
import { escapeText, jsonString } from './escape.js'
import { basicUser, referrerOf, responseHeader } from './record.js'
import { redactUrl } from './redact.js'
import { compileFormat, type LineFormat, type Needs, type TokenContext } from './tokens.js'

/** The names of the predefined formats. */
export type FormatName = 'combined' | 'common' | 'short' | 'tiny' | 'dev' | 'json'

/** morgan's definitions, verbatim. */
export const FORMATS: Readonly<Record<'combined' | 'common' | 'short' | 'tiny', string>> = {
  combined:
    ':remote-addr - :remote-user [:date[clf]] ":method :url HTTP/:http-version" :status :res[content-length] ":referrer" ":user-agent"',
  common:
    ':remote-addr - :remote-user [:date[clf]] ":method :url HTTP/:http-version" :status :res[content-length]',
  short:
    ':remote-addr :remote-user :method :url HTTP/:http-version :status :res[content-length] - :response-time ms',
  tiny: ':method :url :status :res[content-length] - :response-time ms',
}

/** The tokens `combined` uses; a custom token of one of these names disables the fast path. */
const CLF_TOKENS = [
  'remote-addr',
  'remote-user',
  'date',
  'method',
  'url',
  'http-version',
  'status',
  'res',
  'referrer',
  'user-agent',
]

/** A field of a text line: `-` for nothing, the escaped text otherwise (as the tokens print it). */
function field(value: string | undefined): string {
  return value === undefined || value === '' ? '-' : escapeText(value)
}

/**
 * `combined` and `common` written out by hand: the line their format strings compile to,
 * byte for byte (the formats test checks both against morgan), in one function instead of
 * ten token closures called through one call site. Undefined when a custom token replaces
 * one of theirs: the format string is compiled then.
 */
export function clfFormat(
  name: 'combined' | 'common',
  ctx: TokenContext,
  needs: Needs
): LineFormat | undefined {
  if (CLF_TOKENS.some((t) => Object.hasOwn(ctx.custom, t))) return undefined
  needs.remote = true
  const { redaction } = ctx
  const { query } = redaction
  const remote = ctx.remote
  const common = function common(req: IncomingMessage, res: ServerResponse, e: Entry): string {
    const status = sentStatus(res)
    return `${field(remote(req, e))} - ${field(basicUser(req.headers.authorization))} [${clfDate(e.time)}] "${field(req.method)} ${field(redactUrl(e.url, query))} HTTP/${req.httpVersionMajor}.${req.httpVersionMinor}" ${status === undefined ? '-' : status} ${field(responseHeader(res, 'content-length', redaction))}`
  }
  if (name === 'common') return common
  return function combined(req, res, e) {
    return `${common(req, res, e)} "${field(referrerOf(req, redaction))}" "${field(req.headers['user-agent'])}"`
  }
}

/**
 * morgan's `dev`: the status coloured by class (5xx red, 4xx yellow, 3xx cyan, 2xx green),
 * every part reset, exactly as morgan writes it. Without colour: morgan's NO_COLOR variant.
 */
export function devFormat(ctx: TokenContext, needs: Needs, color: boolean): LineFormat {
  const plain = compileFormat(
    ':method :url :status :response-time ms - :res[content-length]',
    ctx,
    needs
  )
  if (!color) return plain
  const method = compileFormat(':method', ctx, needs)
  const url = compileFormat(':url', ctx, needs)
  const status = compileFormat(':status', ctx, needs)
  const rest = compileFormat(':response-time ms - :res[content-length]', ctx, needs)
  return function dev(req, res, e) {
    const s = sentStatus(res)
    const c =
      s === undefined ? 0 : s >= 500 ? 31 : s >= 400 ? 33 : s >= 300 ? 36 : s >= 200 ? 32 : 0
    return `\x1b[0m${method(req, res, e)} ${url(req, res, e)} \x1b[${c}m${status(req, res, e)}\x1b[0m ${rest(req, res, e)}\x1b[0m`
  }
}

/** A JSON value for an optional string. */
function jsonOrNull(value: string | undefined): string {
  return value === undefined ? 'null' : jsonString(value)
}

/** `err` in pino's shape (`type`, `message`, `stack`); the stack only for server errors. @internal */
export function errorJson(err: Error, withStack: boolean): string {
  let s = `{"type":${jsonString(errorType(err))},"message":${jsonString(String(err.message))}`
  if (withStack && typeof err.stack === 'string') s += `,"stack":${jsonString(err.stack)}`
  return `${s}}`
}

/** The error's class name, as pino's serializer reports it. @internal */
export function errorType(err: Error): string {
  const ctor = (err as { constructor?: { name?: unknown } }).constructor
  return typeof ctor?.name === 'string' && ctor.name !== '' ? ctor.name : String(err.name)
}

/**
 * One JSON object per line, built by hand (no `JSON.stringify` of an object): keys in a
 * fixed order, strings escaped for JSON and for terminals (no control character survives).
 */
export function jsonFormat(
  ctx: TokenContext,
  needs: Needs,
  immediate: boolean,
  level: (e: Entry, res: ServerResponse) => LogLevel
): LineFormat {
  needs.remote = true
  needs.bytes = true
  needs.time = true
  const { redaction } = ctx
  return function json(req: IncomingMessage, res: ServerResponse, e: Entry): string {
    let s = `{"time":"${isoDate(e.time)}","level":"${immediate ? 'info' : level(e, res)}","method":${jsonOrNull(req.method)},"url":${jsonString(redactUrl(e.url, redaction.query))}`
    if (immediate) {
      s += ',"status":null,"bytes":null,"duration":null'
    } else {
      const status = sentStatus(res)
      s += `,"status":${status === undefined ? 'null' : status},"bytes":${bodiless(req, res) ? 0 : e.bytes},"duration":${formatDecimal(e.end - e.start, 3)}`
    }
    s += `,"remoteAddress":${jsonOrNull(ctx.remote(req, e))},"userAgent":${jsonOrNull(req.headers['user-agent'])},"referrer":${jsonOrNull(referrerOf(req, redaction))},"requestId":${e.requestId === undefined ? 'null' : `"${e.requestId}"`},"aborted":${e.aborted}`
    if (e.traceId !== undefined) s += `,"traceId":"${e.traceId}"`
    if (e.error !== undefined) s += `,"err":${errorJson(e.error, e.errorStatus >= 500)}`
    return `${s}}`
  }
}

/**
 * The line written after a text line for a server error: the request, then the error's
 * stack trace, escaped into one line (`\n` for its line breaks). @internal
 */
export function errorLine(req: IncomingMessage, e: Entry, ctx: TokenContext): string {
  const err = e.error as Error
  const trace = typeof err.stack === 'string' ? err.stack : `${errorType(err)}: ${err.message}`
  const id = e.requestId === undefined ? '' : ` request-id=${e.requestId}`
  return `[error] ${escapeText(req.method ?? '-')} ${escapeText(redactUrl(e.url, ctx.redaction.query))}${id}: ${escapeText(trace)}`
}
