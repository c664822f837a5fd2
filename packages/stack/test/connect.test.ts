import type { IncomingMessage, ServerResponse } from 'node:http'
import { listen } from '@shallot/test-utils'
import connect from 'connect'
import cors from 'cors'
import express from 'express'
import responseTime from 'response-time'
import { describe, expect, it, vi } from 'vitest'
import {
  type ConnectNext,
  fromConnect,
  HttpError,
  type Middleware,
  mount,
  onHeaders,
  stack,
  toConnect,
} from '../src/index.js'

const ok = (_req: IncomingMessage, res: ServerResponse) => {
  res.end('ok')
}

describe('fromConnect', () => {
  it('should run real npm Connect middleware (cors, response-time) as layers', async () => {
    const app = stack(
      fromConnect(responseTime()),
      fromConnect(cors({ origin: 'https://app.example', credentials: true }))
    )(ok)
    const server = await listen(app)
    try {
      const res = await fetch(server.url, { headers: { origin: 'https://app.example' } })
      expect(await res.text()).toBe('ok')
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example')
      expect(res.headers.get('access-control-allow-credentials')).toBe('true')
      expect(res.headers.get('x-response-time')).toMatch(/^\d+\.\d+ms$/)
      const preflight = await fetch(server.url, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT' },
      })
      expect(preflight.status).toBe(204)
    } finally {
      await server.close()
    }
  })

  it('should send next(err) to the boundary with the error status', async () => {
    const errors: Error[] = []
    const failing = (_req: IncomingMessage, _res: ServerResponse, next: ConnectNext) => {
      setTimeout(() => next(Object.assign(new Error('too big'), { status: 413, expose: true })), 1)
    }
    const server = await listen(stack({ onError: (e) => errors.push(e) }, fromConnect(failing))(ok))
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(413)
      expect(await res.text()).toBe('too big\n')
      expect(errors.map((e) => e.message)).toEqual(['too big'])
    } finally {
      await server.close()
    }
  })

  it('should ignore a next called twice instead of running the rest twice', async () => {
    let runs = 0
    const errors: Error[] = []
    const sloppy = (_req: IncomingMessage, _res: ServerResponse, next: ConnectNext) => {
      next()
      next()
      setTimeout(() => next(new Error('late')), 1)
    }
    const server = await listen(
      stack(
        { onError: (e) => errors.push(e) },
        fromConnect(sloppy)
      )((_req, res) => {
        runs++
        res.end('once')
      })
    )
    try {
      expect(await (await fetch(server.url)).text()).toBe('once')
      await new Promise((r) => setTimeout(r, 20))
      expect(runs).toBe(1)
      expect(errors).toEqual([])
    } finally {
      await server.close()
    }
  })

  it("should treat Express's next('route') as next()", async () => {
    const server = await listen(
      stack(
        fromConnect((_req: IncomingMessage, _res: ServerResponse, next: ConnectNext) =>
          next('route')
        )
      )(ok)
    )
    try {
      expect(await (await fetch(server.url)).text()).toBe('ok')
    } finally {
      await server.close()
    }
  })

  it('should catch a sync throw inside the Connect middleware', async () => {
    const server = await listen(
      stack(
        { onError: () => {} },
        fromConnect(() => {
          throw new Error('sync')
        })
      )(ok)
    )
    try {
      expect((await fetch(server.url)).status).toBe(500)
    } finally {
      await server.close()
    }
  })

  it('should work outside a stack too, rendering errors itself', async () => {
    const server = await listen(
      fromConnect((_req: IncomingMessage, _res: ServerResponse, next: ConnectNext) =>
        next(new HttpError(403, 'forbidden here'))
      )(ok)
    )
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(403)
    } finally {
      await server.close()
    }
  })

  it('should refuse an error-handling middleware and a non-function at build time', () => {
    expect(() =>
      fromConnect(((_e: unknown, _a: unknown, _b: unknown, _c: unknown) => {}) as never)
    ).toThrow(/error-handling middleware/)
    expect(() => fromConnect(undefined as never)).toThrow(/must be a function/)
  })
})

/** A Shallot layer used by the adapter tests: header via onHeaders, 401 without a key. */
const apiKeyLayer: Middleware = (next) => (req, res) => {
  onHeaders(res, () => res.setHeader('x-shallot', 'yes'))
  if (req.headers['x-api-key'] !== 'k') throw new HttpError(401, 'key please')
  return next(req, res)
}

describe('toConnect', () => {
  it('should run a Shallot layer inside a real Express 5 app', async () => {
    const app = express()
    app.use('/api', toConnect(apiKeyLayer))
    app.get('/api/data', (_req, res) => {
      res.json({ data: 1 })
    })
    app.get('/open', (_req, res) => {
      res.send('open')
    })
    const server = await listen(app)
    try {
      const ok = await fetch(`${server.url}/api/data`, { headers: { 'x-api-key': 'k' } })
      expect(await ok.json()).toEqual({ data: 1 })
      expect(ok.headers.get('x-shallot')).toBe('yes')
      const denied = await fetch(`${server.url}/api/data`)
      expect(denied.status).toBe(401)
      expect(denied.headers.get('x-shallot')).toBe('yes')
      expect(await (await fetch(`${server.url}/open`)).text()).toBe('open')
    } finally {
      await server.close()
    }
  })

  it('should report an error raised after Express took over, and end the exchange', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    // The layer passes the request on, then fails: Express's next is spent by then.
    const late: Middleware = (next) => async (req, res) => {
      next(req, res)
      await new Promise((r) => setTimeout(r, 20))
      throw new Error('failed after next')
    }
    const app = express()
    app.use(toConnect(late))
    app.get('/', (_req, res) => {
      res.write('partial ') // head sent, body unfinished when the layer fails
    })
    const server = await listen(app)
    try {
      const res = await fetch(server.url)
      await expect(res.text()).rejects.toThrow()
      expect(logged).toHaveBeenCalledTimes(1)
      expect(String(logged.mock.calls[0]?.[1])).toContain('failed after next')
    } finally {
      logged.mockRestore()
      await server.close()
    }
  })

  it("should hand errors to Express's error middleware as next(err)", async () => {
    const app = express()
    const seen: unknown[] = []
    app.use(toConnect(stack(apiKeyLayer)))
    app.get('/', (_req, res) => {
      res.send('in')
    })
    app.use(
      (
        err: Error & { status?: number },
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction
      ) => {
        seen.push(err)
        res.status(err.status ?? 500).send(`handled: ${err.message}`)
      }
    )
    const server = await listen(app)
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(401)
      expect(await res.text()).toBe('handled: key please')
      expect(seen[0]).toBeInstanceOf(HttpError)
      expect(await (await fetch(server.url, { headers: { 'x-api-key': 'k' } })).text()).toBe('in')
    } finally {
      await server.close()
    }
  })

  it('should run a whole stack with mount inside a real Connect app', async () => {
    const app = connect()
    const trace: string[] = []
    app.use(
      toConnect(
        stack(
          (next) => async (req, res) => {
            trace.push(`in ${req.url}`)
            await next(req, res)
          },
          mount('/v1', (next) => (req, res) => {
            res.setHeader('x-v1', req.url ?? '')
            return next(req, res)
          })
        )
      )
    )
    app.use((req: IncomingMessage, res: ServerResponse) => {
      res.end(`connect saw ${req.url}`)
    })
    const server = await listen(app)
    try {
      const res = await fetch(`${server.url}/v1/items`)
      expect(res.headers.get('x-v1')).toBe('/items')
      expect(await res.text()).toBe('connect saw /v1/items')
      expect(trace).toEqual(['in /v1/items'])
    } finally {
      await server.close()
    }
  })

  it('should send a rejected async layer to next(err)', async () => {
    const app = connect()
    app.use(
      toConnect(() => async () => {
        await Promise.resolve()
        throw new HttpError(429, 'slow down')
      })
    )
    const server = await listen(app)
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(429)
    } finally {
      await server.close()
    }
  })
})
