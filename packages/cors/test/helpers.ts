import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Handler, type Middleware, stack } from '@shallot/stack'
import { type Listening, listen, type RawResponse, rawRequest } from '@shallot/test-utils'

/** The inner handler of most tests: counts its calls, answers 200 "ok". */
export function counting(): Handler & { calls: number } {
  const handler = Object.assign(
    (_req: IncomingMessage, res: ServerResponse) => {
      handler.calls++
      res.setHeader('Content-Type', 'text/plain; charset=utf-8')
      res.end('ok')
    },
    { calls: 0 }
  )
  return handler
}

/** Serves `stack(...layers)(handler)` on a real socket. */
export function serve(layers: Middleware | Middleware[], handler: Handler): Promise<Listening> {
  return listen(stack(...(Array.isArray(layers) ? layers : [layers]))(handler))
}

/**
 * Serves `stack(...layers)(handler)`, runs `fn` against it and always closes the server.
 */
export async function withServing<H extends Handler>(
  layers: Middleware | Middleware[],
  handler: H,
  fn: (server: Listening, handler: H) => Promise<void>
): Promise<void> {
  const server = await serve(layers, handler)
  try {
    await fn(server, handler)
  } finally {
    await server.close()
  }
}

/** One request with the given headers; `method` defaults to GET. */
export function send(
  server: Listening,
  headers: Record<string, string | string[]> = {},
  method = 'GET',
  path = '/'
): Promise<RawResponse> {
  return rawRequest(server.url, { method, path, headers })
}

/** A preflight from `origin` asking for `method` (and the given extra request headers). */
export function preflight(
  server: Listening,
  origin: string,
  method = 'PUT',
  extra: Record<string, string> = {}
): Promise<RawResponse> {
  return send(server, { origin, 'access-control-request-method': method, ...extra }, 'OPTIONS')
}

/** How many times a header line appears in the raw response. */
export function count(res: RawResponse, name: string): number {
  let n = 0
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    if ((res.rawHeaders[i] as string).toLowerCase() === name) n++
  }
  return n
}

/** The CORS response headers present, to check that a refusal leaks none. */
export function corsHeaders(res: RawResponse): string[] {
  return Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))
}
