import { Agent, request } from 'node:http'
import {
  fromConnect,
  getClient,
  getError,
  getPath,
  HttpError,
  type Middleware,
  mount,
  onFinished,
  onHeaders,
  stack,
  trustProxy,
} from '@shallot/stack'
import { failOnUnhandledRejections, listen } from '@shallot/test-utils'
import cors from 'cors'
import { describe, expect, it } from 'vitest'

failOnUnhandledRejections()

/** The app a user would build: built packages imported by name. */
function buildApp(log: string[]) {
  const accessLog: Middleware = (next) => (req, res) => {
    onFinished(res, (err) => {
      const error = getError(req)
      log.push(
        `${getClient(req).ip} ${req.method} ${getPath(req)} ${res.statusCode}${err ? ' aborted' : ''}${error ? ` (${error.message})` : ''}`
      )
    })
    return next(req, res)
  }
  const requestId: Middleware = (next) => {
    let n = 0
    return (req, res) => {
      const id = `req-${++n}`
      onHeaders(res, () => res.setHeader('x-request-id', id))
      return next(req, res)
    }
  }
  const apiKey: Middleware = (next) => (req, res) => {
    if (req.headers['x-api-key'] !== 'k-123') {
      throw new HttpError(401, 'API key required', { headers: { 'www-authenticate': 'ApiKey' } })
    }
    return next(req, res)
  }
  return stack(
    { onError: () => {} },
    trustProxy({ trust: 'loopback' }),
    accessLog,
    requestId,
    fromConnect(cors({ origin: ['https://app.example'] })),
    mount('/api', apiKey)
  )(async (req, res) => {
    const path = getPath(req)
    if (path === '/api/boom') throw new Error('database down')
    if (path === '/api/slow') await new Promise((r) => setTimeout(r, 20))
    if (path.startsWith('/api/')) {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ path }))
      return
    }
    throw new HttpError(404)
  })
}

describe('a full stack of the built packages', () => {
  it('should serve, refuse and fail cleanly, keeping cross-cutting headers on every response', async () => {
    const log: string[] = []
    const server = await listen(buildApp(log))
    try {
      const headers = { origin: 'https://app.example', 'x-forwarded-for': '203.0.113.5' }
      const ok = await fetch(`${server.url}/api/items`, {
        headers: { ...headers, 'x-api-key': 'k-123' },
      })
      expect(await ok.json()).toEqual({ path: '/api/items' })
      const denied = await fetch(`${server.url}/api/items`, { headers })
      const boom = await fetch(`${server.url}/api/boom`, {
        headers: { ...headers, 'x-api-key': 'k-123' },
      })
      const missing = await fetch(`${server.url}/nope`, { headers })
      expect([ok.status, denied.status, boom.status, missing.status]).toEqual([200, 401, 500, 404])
      for (const res of [ok, denied, boom, missing]) {
        expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example')
        expect(res.headers.get('x-request-id')).toMatch(/^req-\d+$/)
      }
      expect(denied.headers.get('www-authenticate')).toBe('ApiKey')
      expect(await boom.text()).toBe('Internal Server Error\n')
      await new Promise((r) => setTimeout(r, 20))
      expect(log).toEqual([
        '203.0.113.5 GET /api/items 200',
        '203.0.113.5 GET /api/items 401 (API key required)',
        '203.0.113.5 GET /api/boom 500 (database down)',
        '203.0.113.5 GET /nope 404 (Not Found)',
      ])
    } finally {
      await server.close()
    }
  })

  it('should keep one keep-alive connection usable across error responses', async () => {
    const server = await listen(buildApp([]))
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const sockets = new Set<unknown>()
    const get = (path: string, key?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          `${server.url}${path}`,
          { agent, headers: key ? { 'x-api-key': key } : {} },
          (res) => {
            sockets.add(res.socket)
            res.resume()
            res.on('end', () => resolve(res.statusCode ?? 0))
          }
        )
        req.on('error', reject)
        req.end()
      })
    try {
      const statuses: number[] = []
      for (const [path, key] of [
        ['/api/a', 'k-123'],
        ['/api/a', undefined],
        ['/api/boom', 'k-123'],
        ['/%00', undefined],
        ['/api/b', 'k-123'],
      ] as const) {
        statuses.push(await get(path, key))
      }
      expect(statuses).toEqual([200, 401, 500, 400, 200])
      expect(sockets.size).toBe(1)
    } finally {
      agent.destroy()
      await server.close()
    }
  })

  it('should answer 200 concurrent mixed requests correctly', async () => {
    const log: string[] = []
    const server = await listen(buildApp(log))
    try {
      const paths = Array.from(
        { length: 200 },
        (_, i) => ['/api/slow', '/api/boom', '/nope', '/api/x'][i % 4] as string
      )
      const results = await Promise.all(
        paths.map(
          async (p) =>
            (await fetch(`${server.url}${p}`, { headers: { 'x-api-key': 'k-123' } })).status
        )
      )
      expect(results).toEqual(
        paths.map((p) => ({ '/api/slow': 200, '/api/boom': 500, '/nope': 404, '/api/x': 200 })[p])
      )
      await new Promise((r) => setTimeout(r, 20))
      expect(log).toHaveLength(200)
    } finally {
      await server.close()
    }
  })
})
