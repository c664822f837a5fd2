import { getAuthScheme, getPrincipal } from '@shallot/auth'
import { cors } from '@shallot/cors'
import { getRequestId } from '@shallot/logging'
import { getSession } from '@shallot/session'
import { HttpError, type Middleware, stack, toConnect } from '@shallot/stack'
import { failOnUnhandledRejections, listen } from '@shallot/test-utils'
import { getTiming, timing } from '@shallot/timing'
import express from 'express'
import { describe, expect, it } from 'vitest'
import { BIG, describeShallotLayers, type Framework, ORIGIN, withApp } from './suite.js'

failOnUnhandledRejections()

/** A real Express 5 app: the Shallot layer through toConnect, then ordinary Express routes. */
function expressApp(layer: Middleware): express.Express {
  const app = express()
  app.use(toConnect(layer))
  app.get('/hello', (_req, res) => {
    res.type('text/plain').send('hello')
  })
  app.get('/whoami', (req, res) => {
    res.json({ principal: getPrincipal(req) ?? null, scheme: getAuthScheme(req) ?? null })
  })
  app.get('/visits', (req, res) => {
    const s = getSession<{ visits: number }>(req)
    const visits = (s.get('visits') ?? 0) + 1
    s.set('visits', visits)
    res.json({ visits })
  })
  app.get('/request-id', (req, res) => {
    res.json({ requestId: getRequestId(req) ?? null })
  })
  app.get('/timed', (req, res) => {
    getTiming(req).add('db', { dur: 12.5, desc: 'query' })
    res.type('text/plain').send('timed')
  })
  app.get('/boom', () => {
    throw new Error('route failed')
  })
  app.get('/big', (_req, res) => {
    res.type('text/plain').send(BIG)
  })
  return app
}

const framework: Framework = {
  name: 'Express 5',
  serve: (layer) => listen(expressApp(layer)),
}

describeShallotLayers(framework)

describe('Express 5: errors', () => {
  it("should hand a layer's refusal to Express's error middleware, CORS headers kept", async () => {
    const seen: unknown[] = []
    const app = express()
    app.use(
      toConnect(
        stack(cors({ origin: [ORIGIN] }), (next) => (req, res) => {
          if (req.headers['x-api-key'] !== 'k') {
            throw new HttpError(401, 'key please', { headers: { 'www-authenticate': 'ApiKey' } })
          }
          return next(req, res)
        })
      )
    )
    app.get('/', (_req, res) => {
      res.send('in')
    })
    app.use(
      (
        err: HttpError,
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction
      ) => {
        seen.push(err)
        res.status(err.status).set(err.headers).json({ error: err.message })
      }
    )
    const server = await listen(app)
    try {
      const res = await fetch(server.url, { headers: { origin: ORIGIN } })
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ error: 'key please' })
      expect(res.headers.get('www-authenticate')).toBe('ApiKey')
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      expect(seen).toHaveLength(1)
      expect(seen[0]).toBeInstanceOf(HttpError)
    } finally {
      await server.close()
    }
  })

  it("should let Express's final handler render the refusal with its status", async () => {
    await withApp(
      framework,
      () => () => {
        throw new HttpError(429, 'slow down')
      },
      async (url) => {
        const res = await fetch(`${url}/hello`)
        expect(res.status).toBe(429)
        expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      }
    )
  })
})

describe('Express 5: mounting', () => {
  it('should run a layer mounted with app.use(path) on the sub-path Express hands it', async () => {
    const app = express()
    const seen: string[] = []
    app.use(
      '/api',
      toConnect(
        stack(timing(), (next) => (req, res) => {
          seen.push(req.url ?? '')
          return next(req, res)
        })
      )
    )
    app.get('/api/items', (req, res) => {
      getTiming(req).add('db', { dur: 1 })
      res.json({ url: req.originalUrl })
    })
    app.get('/open', (_req, res) => {
      res.send('open')
    })
    const server = await listen(app)
    try {
      const res = await fetch(`${server.url}/api/items?x=1`)
      expect(await res.json()).toEqual({ url: '/api/items?x=1' })
      expect(res.headers.get('server-timing')).toMatch(/, db;dur=1\.000$/)
      const open = await fetch(`${server.url}/open`)
      expect(open.headers.get('server-timing')).toBeNull()
      expect(seen).toEqual(['/items?x=1'])
    } finally {
      await server.close()
    }
  })
})
