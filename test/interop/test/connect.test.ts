import type { IncomingMessage, ServerResponse } from 'node:http'
import { getAuthScheme, getPrincipal } from '@shallot/auth'
import { getRequestId } from '@shallot/logging'
import { getSession } from '@shallot/session'
import { HttpError, type Middleware, mount, stack, toConnect } from '@shallot/stack'
import { failOnUnhandledRejections, listen } from '@shallot/test-utils'
import { getTiming } from '@shallot/timing'
import connect from 'connect'
import { describe, expect, it } from 'vitest'
import { BIG, describeShallotLayers, type Framework } from './suite.js'

failOnUnhandledRejections()

function send(res: ServerResponse, type: string, body: string): void {
  res.setHeader('content-type', type)
  res.end(body)
}

/** A real Connect app: the Shallot layer through toConnect, then Connect's own path mounts. */
function connectApp(layer: Middleware): connect.Server {
  const app = connect()
  app.use(toConnect(layer))
  const route = (path: string, fn: (req: IncomingMessage, res: ServerResponse) => void) =>
    app.use(path, (req: IncomingMessage, res: ServerResponse, next: connect.NextFunction) => {
      // Connect mounts by prefix: only the exact path is the route.
      if (req.url !== '/' || req.method !== 'GET') {
        next()
        return
      }
      fn(req, res)
    })
  route('/hello', (_req, res) => send(res, 'text/plain', 'hello'))
  route('/whoami', (req, res) =>
    send(
      res,
      'application/json',
      JSON.stringify({ principal: getPrincipal(req) ?? null, scheme: getAuthScheme(req) ?? null })
    )
  )
  route('/visits', (req, res) => {
    const s = getSession<{ visits: number }>(req)
    const visits = (s.get('visits') ?? 0) + 1
    s.set('visits', visits)
    send(res, 'application/json', JSON.stringify({ visits }))
  })
  route('/request-id', (req, res) =>
    send(res, 'application/json', JSON.stringify({ requestId: getRequestId(req) ?? null }))
  )
  route('/timed', (req, res) => {
    getTiming(req).add('db', { dur: 12.5, desc: 'query' })
    send(res, 'text/plain', 'timed')
  })
  route('/boom', () => {
    throw new Error('route failed')
  })
  route('/big', (_req, res) => send(res, 'text/plain', BIG))
  return app
}

const framework: Framework = {
  name: 'Connect',
  serve: (layer) => listen(connectApp(layer)),
}

describeShallotLayers(framework)

describe('Connect: errors and mounts', () => {
  it("should hand a refusal to Connect's error middleware as next(err)", async () => {
    const app = connect()
    const guard: Middleware = (next) => (req, res) => {
      if (req.headers['x-api-key'] !== 'k') throw new HttpError(401, 'key please')
      return next(req, res)
    }
    app.use('/api', toConnect(stack(guard)))
    app.use((req: IncomingMessage, res: ServerResponse) => send(res, 'text/plain', `in ${req.url}`))
    app.use(
      (err: HttpError, _req: IncomingMessage, res: ServerResponse, _next: connect.NextFunction) => {
        res.statusCode = err.status
        send(res, 'text/plain', `handled: ${err.message}`)
      }
    )
    const server = await listen(app)
    try {
      const denied = await fetch(`${server.url}/api/x`)
      expect(denied.status).toBe(401)
      expect(await denied.text()).toBe('handled: key please')
      const ok = await fetch(`${server.url}/api/x`, { headers: { 'x-api-key': 'k' } })
      expect(await ok.text()).toBe('in /api/x')
      expect(await (await fetch(`${server.url}/open`)).text()).toBe('in /open')
    } finally {
      await server.close()
    }
  })

  it("should combine Connect's prefix mount with a Shallot mount inside", async () => {
    const app = connect()
    const seen: string[] = []
    app.use(
      '/v1',
      toConnect(
        mount('/admin', (next) => (req, res) => {
          seen.push(req.url ?? '')
          res.setHeader('x-admin', 'yes')
          return next(req, res)
        })
      )
    )
    app.use((req: IncomingMessage, res: ServerResponse) =>
      send(res, 'text/plain', `saw ${req.url}`)
    )
    const server = await listen(app)
    try {
      const admin = await fetch(`${server.url}/v1/admin/users`)
      expect(admin.headers.get('x-admin')).toBe('yes')
      expect(await admin.text()).toBe('saw /v1/admin/users')
      const other = await fetch(`${server.url}/v1/public`)
      expect(other.headers.get('x-admin')).toBeNull()
      expect(seen).toEqual(['/users'])
    } finally {
      await server.close()
    }
  })
})
