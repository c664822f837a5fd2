/**
 * @shallot/cors: the Fetch standard's CORS protocol for Node request listeners.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  appendVary,
  type Handler,
  type HeadersListener,
  HttpError,
  type Middleware,
  onHeaders,
} from '@shallot/stack'
import { exposableNames, parseTokenList, TOKEN } from './headers.js'
import {
  type CorsOptions,
  type CorsRefusalReason,
  type Resolved,
  resolveOptions,
} from './options.js'
import { isSerializedOrigin } from './origin.js'

export type { CorsOptions, CorsOrigin, CorsOriginFunction, CorsRefusalReason } from './options.js'

type Decision = string | null

/** How many distinct Access-Control-Request-Headers values a layer remembers. */
const MAX_REFLECTIONS = 256
/** Longer lists are parsed every time, so the memory the cache holds stays small. */
const MAX_REFLECTED_LENGTH = 512

/**
 * CORS for Node request listeners, following the Fetch standard: answers preflights, adds
 * `Access-Control-*` headers to actual responses from allowed origins (in `onHeaders`, so
 * error responses rendered by the stack carry them too), and keeps `Vary` right. Options are
 * checked when the layer is built; insecure combinations are refused with a `TypeError`.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/cors#readme
 * @see https://fetch.spec.whatwg.org/#http-cors-protocol
 * @example
 * ```ts
 * const app = stack(
 *   cors({ origin: ['https://app.example.com', 'https://*.example.com'], credentials: true })
 * )(handler)
 * ```
 */
export function cors(options: CorsOptions = {}): Middleware {
  const o = resolveOptions(options)
  const decide = decider(o)

  // Headers of actual responses, one listener per answer that can be precomputed.
  const explicitExposed = o.exposed.filter((h) => h !== '*')
  const exposeAll = o.credentials && o.exposed.includes('*')
  const actualListener = (acao: string): HeadersListener =>
    function corsHeaders(res: ServerResponse): void {
      res.setHeader('access-control-allow-origin', acao)
      if (o.credentials) res.setHeader('access-control-allow-credentials', 'true')
      if (o.exposedValue !== undefined) {
        res.setHeader('access-control-expose-headers', o.exposedValue)
      } else if (exposeAll) {
        const names = exposableNames(res.getHeaderNames(), explicitExposed)
        if (names.length > 0) res.setHeader('access-control-expose-headers', names.join(', '))
      }
      if (o.varyOrigin) appendVary(res, 'Origin')
    }
  const varyOrigin: HeadersListener = function corsVary(res) {
    appendVary(res, 'Origin')
  }
  const listeners = new Map<string, HeadersListener>()
  for (const origin of o.exact) listeners.set(origin, actualListener(origin))
  if (o.allowNull) listeners.set('null', actualListener('null'))
  const starListener = o.star ? actualListener('*') : undefined
  const noOriginListener = o.star ? starListener : varyOrigin

  // Preflight answers.
  const explicitMethods = o.methods.filter((m) => m !== '*')
  const explicitHeaders = (o.allowedHeaders ?? []).filter((h) => h !== '*')
  const explicitHeadersLower = explicitHeaders.map((h) => h.toLowerCase())
  const preflightVary: string[] = []
  if (o.varyOrigin) preflightVary.push('Origin')
  if (o.methodsValue === undefined) preflightVary.push('Access-Control-Request-Method')
  if (o.allowedHeadersValue === undefined && (o.allowedHeaders === undefined || o.credentials)) {
    preflightVary.push('Access-Control-Request-Headers')
  }
  if (o.privateNetwork) preflightVary.push('Access-Control-Request-Private-Network')
  const preflightVaryValue = preflightVary.join(', ')

  function allowMethods(req: IncomingMessage): string | undefined {
    if (o.methodsValue !== undefined) return o.methodsValue
    // `*` with credentials: the requested method, beside the ones listed by name.
    const requested = req.headers['access-control-request-method'] as string
    const out = explicitMethods.slice()
    if (TOKEN.test(requested) && !out.includes(requested)) out.push(requested)
    return out.length === 0 ? undefined : out.join(', ')
  }

  // Reflected Access-Control-Request-Headers by raw value: a page sends the same few lists
  // again and again, so each is parsed and checked once. Bounded: cleared when full.
  const reflections = new Map<string, string | undefined>()
  function reflected(acrh: string): string | undefined {
    if (acrh.length > MAX_REFLECTED_LENGTH) return parseTokenList(acrh)?.join(', ')
    let value = reflections.get(acrh)
    if (value === undefined && !reflections.has(acrh)) {
      value = parseTokenList(acrh)?.join(', ')
      if (reflections.size >= MAX_REFLECTIONS) reflections.clear()
      reflections.set(acrh, value)
    }
    return value
  }

  function allowHeaders(req: IncomingMessage): string | undefined {
    if (o.allowedHeadersValue !== undefined) {
      return o.allowedHeadersValue === '' ? undefined : o.allowedHeadersValue
    }
    const acrh = req.headers['access-control-request-headers']
    if (o.allowedHeaders === undefined) return acrh === undefined ? undefined : reflected(acrh)
    const requested = acrh === undefined ? undefined : parseTokenList(acrh)
    // `*` with credentials: the requested names, but never Authorization unless listed.
    const out = explicitHeaders.slice()
    for (const name of requested ?? []) {
      if (name === 'authorization' || explicitHeadersLower.includes(name)) continue
      out.push(name)
    }
    return out.length === 0 ? undefined : out.join(', ')
  }

  function applyPreflight(req: IncomingMessage, res: ServerResponse, acao: string): void {
    res.setHeader('access-control-allow-origin', acao)
    if (o.credentials) res.setHeader('access-control-allow-credentials', 'true')
    const methods = allowMethods(req)
    if (methods !== undefined) res.setHeader('access-control-allow-methods', methods)
    const headers = allowHeaders(req)
    if (headers !== undefined) res.setHeader('access-control-allow-headers', headers)
    if (o.maxAge !== undefined) res.setHeader('access-control-max-age', o.maxAge)
    if (req.headers['access-control-request-private-network'] === 'true') {
      if (o.privateNetwork) res.setHeader('access-control-allow-private-network', 'true')
      else if (o.onRefused !== undefined) {
        o.onRefused('private-network-not-allowed', req.headers.origin as string, req)
      }
    }
    if (preflightVary.length > 0) {
      // Usually nothing has set Vary yet on a preflight: set the precomputed value.
      if (res.getHeader('vary') === undefined) res.setHeader('vary', preflightVaryValue)
      else appendVary(res, preflightVary)
    }
  }

  function endPreflight(res: ServerResponse): void {
    res.statusCode = o.status
    // 204 has no body by definition (Node sends no length); other statuses say it is empty.
    if (o.status !== 204) res.setHeader('content-length', '0')
    res.end()
  }

  /** Reports a refusal, then answers 403 (strict) or lets the request go on without CORS headers. */
  function refuse(req: IncomingMessage, res: ServerResponse, origin: string): void {
    if (o.onRefused !== undefined) o.onRefused(reasonFor(origin), origin, req)
    if (o.varyOrigin) onHeaders(res, varyOrigin)
    if (o.strict) throw new HttpError(403, 'Origin not allowed')
  }

  function proceed(
    req: IncomingMessage,
    res: ServerResponse,
    next: Handler,
    origin: string,
    preflight: boolean,
    acao: Decision
  ): void | Promise<void> {
    if (!preflight) {
      if (acao === null) refuse(req, res, origin)
      else onHeaders(res, listeners.get(acao) ?? starListener ?? actualListener(acao))
      return next(req, res)
    }
    if (acao === null) {
      refuse(req, res, origin)
      if (o.preflightContinue) return next(req, res)
      endPreflight(res)
      return
    }
    if (o.preflightContinue) {
      onHeaders(res, () => applyPreflight(req, res, acao))
      return next(req, res)
    }
    applyPreflight(req, res, acao)
    endPreflight(res)
  }

  return function corsMiddleware(next: Handler): Handler {
    return function cors(req, res) {
      const origin = req.headers.origin
      if (origin === undefined) {
        if (noOriginListener !== undefined) onHeaders(res, noOriginListener)
        return next(req, res)
      }
      // A preflight: OPTIONS with Origin and Access-Control-Request-Method. A plain OPTIONS
      // is an ordinary request for the inner handler.
      const preflight =
        req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined
      const acao = decide(origin, req)
      if (typeof acao === 'object' && acao !== null) {
        return acao.then((a) => proceed(req, res, next, origin, preflight, a))
      }
      return proceed(req, res, next, origin, preflight, acao)
    }
  }
}

function reasonFor(origin: string): CorsRefusalReason {
  if (origin === 'null') return 'null-origin'
  return isSerializedOrigin(origin) ? 'origin-not-allowed' : 'invalid-origin'
}

/**
 * The origin decision: the `Access-Control-Allow-Origin` value, or null when refused.
 * Exact origins and wildcards compare the header as sent: a browser sends the canonical
 * serialization, so anything that differs from it is not a browser's origin and does not
 * match. RegExps and functions only see headers checked to be canonical.
 */
function decider(
  o: Resolved
): (origin: string, req: IncomingMessage) => Decision | Promise<Decision> {
  const { exact, wildcards, regexps, fn, allowNull, reflectAny } = o
  const parsed = reflectAny || regexps.length > 0 || fn !== undefined
  return function decide(origin, req) {
    if (o.star) return '*'
    if (exact.has(origin)) return origin
    if (origin === 'null') return allowNull ? 'null' : null
    for (let i = 0; i < wildcards.length; i++) {
      if ((wildcards[i] as RegExp).test(origin)) return origin
    }
    if (!parsed || !isSerializedOrigin(origin)) return null
    if (reflectAny) return origin
    for (let i = 0; i < regexps.length; i++) {
      if ((regexps[i] as RegExp).test(origin)) return origin
    }
    if (fn === undefined) return null
    const result = fn(origin, req)
    if (typeof result === 'object' && result !== null) {
      return Promise.resolve(result).then((r) => (r === true || r === origin ? origin : null))
    }
    return result === true || result === origin ? origin : null
  }
}
