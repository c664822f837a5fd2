import type { IncomingMessage, ServerResponse } from 'node:http'
import { apiKey, getPrincipal } from '@shallot/auth'
import { cors } from '@shallot/cors'
import { beforePathCheck, fromConnect, type Handler, stack } from '@shallot/stack'
import { serveStatic } from '@shallot/static'
import { failOnUnhandledRejections, listen, rawRequest } from '@shallot/test-utils'
import helmet from 'helmet'
import morgan from 'morgan'
import { describe, expect, it } from 'vitest'
import { Collector, ORIGIN, PUBLIC_DIR } from './suite.js'

failOnUnhandledRejections()

/** The application behind the stacks: who is calling, or a crash on /boom. */
const handler: Handler = (req: IncomingMessage, res: ServerResponse) => {
  if (req.url === '/boom') throw new Error('handler failed')
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ principal: getPrincipal(req) ?? null }))
}

describe('helmet through fromConnect', () => {
  it('should set its headers and pass the request on to the inner layers', async () => {
    const app = stack(
      { onError: () => {} },
      fromConnect(helmet()),
      apiKey({ keys: { k: 'ci' }, paths: ['/api'] })
    )(handler)
    const server = await listen(app)
    try {
      const res = await fetch(`${server.url}/api/me`, { headers: { 'x-api-key': 'k' } })
      expect(res.status).toBe(200)
      // The next path: apiKey and the handler ran after helmet.
      expect(await res.json()).toEqual({ principal: 'ci' })
      expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'self';/)
      expect(res.headers.get('strict-transport-security')).toBe(
        'max-age=31536000; includeSubDomains'
      )
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN')
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin')
      expect(res.headers.get('referrer-policy')).toBe('no-referrer')
      expect(res.headers.get('x-powered-by')).toBeNull()
    } finally {
      await server.close()
    }
  })

  it('should keep its headers on the error responses the stack renders', async () => {
    const app = stack(
      { onError: () => {} },
      fromConnect(helmet()),
      apiKey({ keys: ['k'], paths: ['/api'] })
    )(handler)
    const server = await listen(app)
    try {
      for (const [path, status] of [
        ['/api/me', 401],
        ['/boom', 500],
      ] as const) {
        const res = await fetch(`${server.url}${path}`)
        expect(res.status).toBe(status)
        expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN')
        expect(res.headers.get('strict-transport-security')).toMatch(/^max-age=/)
        // The boundary swaps the page's CSP for the strictest one on an error body.
        expect(res.headers.get('content-security-policy')).toBe("default-src 'none'")
      }
    } finally {
      await server.close()
    }
  })

  it('should call its per-request directive functions and send their errors to the boundary', async () => {
    const errors: Error[] = []
    const app = stack(
      { onError: (e) => errors.push(e) },
      fromConnect(
        helmet({
          contentSecurityPolicy: {
            directives: {
              scriptSrc: [
                "'self'",
                (req) => (req.url === '/bad' ? 'x;y' : `https://${req.headers.host}`),
              ],
            },
          },
        })
      )
    )(handler)
    const server = await listen(app)
    try {
      const ok = await fetch(`${server.url}/ok`)
      expect(ok.status).toBe(200)
      expect(ok.headers.get('content-security-policy')).toContain(
        `script-src 'self' https://${new URL(server.url).host}`
      )
      const bad = await fetch(`${server.url}/bad`)
      expect(bad.status).toBe(500)
      expect(await bad.text()).toBe('Internal Server Error\n')
      expect(errors.map((e) => e.message)).toEqual([
        'Content-Security-Policy received an invalid directive value for "script-src"',
      ])
    } finally {
      await server.close()
    }
  })
})

describe('morgan through fromConnect', () => {
  /** morgan's stream option: each line as written. */
  function capture(): { stream: { write(line: string): void }; lines: Collector<string> } {
    const lines = new Collector<string>()
    return { stream: { write: (line: string) => lines.push(line) }, lines }
  }
  const TINY = /^(\S+) (\S+) (\d{3}|-) (\d+|-) - (\d+\.\d{3}) ms\n$/

  it('should write a line with the status of answers the inner Shallot layers produced', async () => {
    const { stream, lines } = capture()
    const files = serveStatic(PUBLIC_DIR, { prefix: '/static', watch: false })
    const app = stack(
      { onError: () => {} },
      fromConnect(morgan('tiny', { stream })),
      cors({ origin: [ORIGIN] }),
      apiKey({ keys: ['k'], paths: ['/api'] }),
      files
    )(handler)
    const server = await listen(app)
    try {
      const requests: [string, string, Record<string, string>][] = [
        ['GET', '/api/me', { 'x-api-key': 'k' }],
        ['GET', '/api/me', {}],
        ['GET', '/static/hello.txt', {}],
        ['OPTIONS', '/api/me', { origin: ORIGIN, 'access-control-request-method': 'PUT' }],
        ['GET', '/boom', {}],
      ]
      for (const [i, [method, path, headers]] of requests.entries()) {
        await rawRequest(server.url, { method, path, headers })
        await lines.atLeast(i + 1)
      }
      const parsed = lines.items.map((line) => {
        const m = TINY.exec(line)
        expect(m, line).not.toBeNull()
        return (m as RegExpExecArray).slice(1, 5).join(' ')
      })
      expect(parsed).toEqual([
        // The handler's end(body): Node frames it, so no Content-Length header for morgan.
        'GET /api/me 200 -',
        // The 401 the stack's boundary rendered for apiKey: "Authentication required\n".
        'GET /api/me 401 24',
        'GET /static/hello.txt 200 18',
        'OPTIONS /api/me 204 -',
        'GET /boom 500 22',
      ])
    } finally {
      files.close()
      await server.close()
    }
  })

  it('should see the 400s of the path check when marked beforePathCheck', async () => {
    const { stream, lines } = capture()
    const app = stack(
      { onError: () => {} },
      beforePathCheck(fromConnect(morgan(':method :url :status', { stream })))
    )(handler)
    const server = await listen(app)
    try {
      const refused = await rawRequest(server.url, { path: '/a%2Fb' })
      expect(refused.status).toBe(400)
      expect(await lines.atLeast(1)).toEqual(['GET /a%2Fb 400\n'])
    } finally {
      await server.close()
    }
  })
})
