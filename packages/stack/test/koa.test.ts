import { type RequestListener, STATUS_CODES } from 'node:http'
import { type Listening, listen, rawRequest } from '@shallot/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type ConnectNext,
  fromConnect,
  HttpError,
  type KoaContextLike,
  type KoaNext,
  type Middleware,
  onHeaders,
  stack,
  toKoa,
} from '../src/index.js'

/*
 * Koa is not a dependency of this package (test/interop runs toKoa in real Koa 3 apps). These
 * tests drive the adapter with the parts of Koa 3 it meets, as koa/lib/application.js and
 * context.js do them: the response starts at 404; middleware compose like koa-compose; once the
 * chain resolves Koa writes `ctx.body` unless `ctx.respond === false` or the response is
 * finished; once it rejects, Koa reports the error and, if the head is not out, removes every
 * header, sets the error's `headers` and `status` and writes its message (`expose`) or the
 * reason phrase. Koa only reports an error that comes after the head.
 */
interface FakeContext extends KoaContextLike {
  body?: string
}
type FakeMiddleware = (ctx: FakeContext, next: KoaNext) => unknown

function fakeKoa(middleware: FakeMiddleware[], errors: unknown[] = []): RequestListener {
  return (req, res) => {
    res.statusCode = 404
    const ctx: FakeContext = { req, res }
    const dispatch = (i: number): Promise<void> => {
      const fn = middleware[i]
      if (fn === undefined) return Promise.resolve()
      try {
        return Promise.resolve(fn(ctx, () => dispatch(i + 1))).then(() => {})
      } catch (err) {
        return Promise.reject(err)
      }
    }
    dispatch(0).then(
      () => respond(ctx),
      (err: unknown) => onerror(ctx, err, errors)
    )
  }
}

function respond(ctx: FakeContext): void {
  const { res } = ctx
  if (ctx.respond === false || res.writableEnded) return
  const body = ctx.body ?? STATUS_CODES[res.statusCode] ?? String(res.statusCode)
  if (!res.headersSent) res.setHeader('content-type', 'text/plain; charset=utf-8')
  res.end(body)
}

function onerror(ctx: FakeContext, err: unknown, errors: unknown[]): void {
  errors.push(err)
  const { res } = ctx
  if (res.headersSent || res.writableEnded) return
  for (const name of res.getHeaderNames()) res.removeHeader(name)
  const e = err as { status?: unknown; expose?: unknown; message?: unknown; headers?: unknown }
  const headers = (e.headers ?? {}) as Record<string, string>
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  const status = typeof e.status === 'number' ? e.status : 500
  res.statusCode = status
  res.setHeader('content-type', 'text/plain; charset=utf-8')
  res.end(e.expose === true ? String(e.message) : STATUS_CODES[status])
}

/** Koa's `ctx.body = x`: the status becomes 200 unless one was chosen. */
function send(ctx: FakeContext, body: string): void {
  ctx.body = body
  if (ctx.res.statusCode === 404) ctx.res.statusCode = 200
}

/** A Shallot layer with a header set in onHeaders, as cors and timing set theirs. */
const stamp: Middleware = (next) =>
  async function stamp(req, res) {
    onHeaders(res, () => res.setHeader('x-layer', `saw ${res.statusCode}`))
    await next(req, res)
  }

let server: Listening | undefined
async function serve(app: RequestListener): Promise<string> {
  server = await listen(app)
  return server.url
}
afterEach(async () => {
  await server?.close()
  server = undefined
})

describe('toKoa: passing on', () => {
  it("should run Koa's downstream as the layer's next and let Koa write the response after the chain", async () => {
    const trace: string[] = []
    const layer: Middleware = (next) => async (req, res) => {
      trace.push('layer in')
      onHeaders(res, () => res.setHeader('x-layer', `saw ${res.statusCode}`))
      await next(req, res)
      trace.push(`layer out, head sent: ${res.headersSent}`)
    }
    const url = await serve(
      fakeKoa([
        async (_ctx, next) => {
          await next()
          trace.push('upstream out')
        },
        toKoa(layer),
        (ctx) => {
          trace.push('route')
          send(ctx, 'from koa')
        },
      ])
    )
    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('from koa')
    // The onHeaders listener ran at Koa's own write, with Koa's final status.
    expect(res.headers.get('x-layer')).toBe('saw 200')
    expect(trace).toEqual(['layer in', 'route', 'layer out, head sent: false', 'upstream out'])
  })

  it('should give the layer Node\'s 200 and hand Koa back its "nothing answered" 404', async () => {
    const seen: number[] = []
    const look: Middleware = (next) => (req, res) => {
      seen.push(res.statusCode)
      return next(req, res)
    }
    const url = await serve(
      fakeKoa([
        toKoa(look),
        (ctx) => {
          seen.push(ctx.res.statusCode)
        },
      ])
    )
    const res = await fetch(url)
    expect(seen).toEqual([200, 404])
    expect(res.status).toBe(404)
    expect(await res.text()).toBe('Not Found')
  })

  it('should keep a status the layer chose before passing on', async () => {
    const accepted: Middleware = (next) => (req, res) => {
      res.statusCode = 202
      return next(req, res)
    }
    const url = await serve(fakeKoa([toKoa(accepted), () => {}]))
    expect((await fetch(url)).status).toBe(202)
  })

  it('should wait for a Connect middleware that calls next later (fromConnect)', async () => {
    const lookup = (_req: unknown, _res: unknown, next: ConnectNext) => {
      setTimeout(next, 5)
    }
    const url = await serve(
      fakeKoa([
        toKoa(stack(fromConnect(lookup), stamp)),
        (ctx) => {
          send(ctx, 'after the lookup')
        },
      ])
    )
    const res = await fetch(url)
    expect(await res.text()).toBe('after the lookup')
    expect(res.headers.get('x-layer')).toBe('saw 200')
  })

  it('should wait for a layer that calls next without returning its promise', async () => {
    const fireAndForget: Middleware = (next) => (req, res) => {
      void next(req, res)
    }
    const url = await serve(
      fakeKoa([
        toKoa(fireAndForget),
        async (ctx) => {
          await new Promise((r) => setTimeout(r, 5))
          send(ctx, 'slow route')
        },
      ])
    )
    expect(await (await fetch(url)).text()).toBe('slow route')
  })
})

describe('toKoa: answering', () => {
  it('should leave a response the layer wrote to the layer (ctx.respond = false)', async () => {
    const errors: unknown[] = []
    const respondFlags: unknown[] = []
    let routeRan = false
    const preflight: Middleware = (next) => (req, res) => {
      if (req.method !== 'OPTIONS') return next(req, res)
      res.statusCode = 204
      res.setHeader('access-control-allow-methods', 'PUT')
      res.end()
    }
    const url = await serve(
      fakeKoa(
        [
          async (ctx, next) => {
            await next()
            respondFlags.push(ctx.respond)
          },
          toKoa(stack(stamp, preflight)),
          (ctx) => {
            routeRan = true
            send(ctx, 'route')
          },
        ],
        errors
      )
    )
    const res = await fetch(url, { method: 'OPTIONS' })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-methods')).toBe('PUT')
    expect(res.headers.get('x-layer')).toBe('saw 204')
    expect(await res.text()).toBe('')
    expect(routeRan).toBe(false)
    expect(respondFlags).toEqual([false])
    expect(errors).toEqual([])
    expect(await (await fetch(url)).text()).toBe('route')
  })

  it("should send Node's 200, not Koa's 404, for a layer that ends without a status", async () => {
    const hello: Middleware = () => (_req, res) => {
      res.end('hello from the layer')
    }
    const url = await serve(fakeKoa([toKoa(hello)]))
    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('hello from the layer')
  })

  it('should wait while the layer streams its own response', async () => {
    const respondFlags: unknown[] = []
    const streaming: Middleware = () => (_req, res) => {
      res.write('a')
      setTimeout(() => res.end('b'), 5)
    }
    const url = await serve(
      fakeKoa([
        async (ctx, next) => {
          await next()
          respondFlags.push(ctx.respond, ctx.res.writableFinished)
        },
        toKoa(streaming),
      ])
    )
    expect(await (await fetch(url)).text()).toBe('ab')
    expect(respondFlags).toEqual([false, true])
  })
})

describe('toKoa: errors', () => {
  it("should rethrow the layer's refusal to Koa, which renders its status and headers", async () => {
    const errors: unknown[] = []
    const refuse: Middleware = () => () => {
      throw new HttpError(401, 'key please', { headers: { 'www-authenticate': 'ApiKey' } })
    }
    const url = await serve(fakeKoa([toKoa(stack(stamp, refuse)), () => {}], errors))
    const res = await fetch(url)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('ApiKey')
    // Koa removed every header it found, but onHeaders listeners run at its write.
    expect(res.headers.get('x-layer')).toBe('saw 401')
    expect(await res.text()).toBe('key please')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(HttpError)
  })

  it("should hand a Koa error handler upstream the layer's error, and let Koa write its answer", async () => {
    const refuse: Middleware = () => async () => {
      await Promise.resolve()
      throw new HttpError(429, 'slow down')
    }
    const url = await serve(
      fakeKoa([
        async (ctx, next) => {
          try {
            await next()
          } catch (err) {
            ctx.res.statusCode = (err as HttpError).status
            ctx.body = `handled: ${(err as Error).message}`
          }
        },
        toKoa(refuse),
      ])
    )
    const res = await fetch(url)
    expect(res.status).toBe(429)
    expect(await res.text()).toBe('handled: slow down')
  })

  it("should give Koa back its own status when a Koa middleware swallows the layer's error", async () => {
    const swallowed: unknown[] = []
    const url = await serve(
      fakeKoa([
        async (_ctx, next) => {
          try {
            await next()
          } catch (err) {
            swallowed.push(err)
          }
        },
        toKoa(() => () => {
          throw new HttpError(401)
        }),
      ])
    )
    const res = await fetch(url)
    expect(swallowed).toHaveLength(1)
    expect(res.status).toBe(404)
    expect(await res.text()).toBe('Not Found')
  })

  it("should give Koa its downstream's error back once, as thrown, while the layer's next resolves", async () => {
    const errors: unknown[] = []
    const stackErrors: unknown[] = []
    const outcomes: string[] = []
    const watch: Middleware = (next) => async (req, res) => {
      try {
        await next(req, res)
        outcomes.push('next resolved')
      } catch {
        outcomes.push('next rejected')
      }
    }
    const thrown = new Error('route failed')
    const url = await serve(
      fakeKoa(
        [
          toKoa(stack({ onError: (e) => stackErrors.push(e) }, stamp, watch)),
          () => {
            throw thrown
          },
        ],
        errors
      )
    )
    const res = await fetch(url)
    expect(res.status).toBe(500)
    expect(res.headers.get('x-layer')).toBe('saw 500')
    expect(await res.text()).toBe('Internal Server Error')
    expect(errors).toEqual([thrown])
    expect(outcomes).toEqual(['next resolved'])
    // Koa's own error is Koa's business: the stack's boundary did not handle it too.
    expect(stackErrors).toEqual([])
  })

  it("should let the stack's onError see the layer's own errors before Koa renders them", async () => {
    const stackErrors: unknown[] = []
    const refuse: Middleware = () => () => {
      throw new HttpError(403, 'no')
    }
    const url = await serve(
      fakeKoa([toKoa(stack({ onError: (e) => stackErrors.push(e) }, refuse))])
    )
    expect((await fetch(url)).status).toBe(403)
    expect(stackErrors).toHaveLength(1)
  })

  it('should pass a Connect next(err) given later to Koa', async () => {
    const errors: unknown[] = []
    const failing = (_req: unknown, _res: unknown, next: ConnectNext) => {
      setTimeout(() => next(Object.assign(new Error('too big'), { status: 413, expose: true })), 5)
    }
    const url = await serve(fakeKoa([toKoa(fromConnect(failing)), () => {}], errors))
    const res = await fetch(url)
    expect(res.status).toBe(413)
    expect(await res.text()).toBe('too big')
    expect(errors).toHaveLength(1)
  })

  it('should turn a thrown non-Error into an Error for Koa', async () => {
    const errors: unknown[] = []
    const url = await serve(
      fakeKoa(
        [
          toKoa(() => () => {
            throw 'a string'
          }),
        ],
        errors
      )
    )
    expect((await fetch(url)).status).toBe(500)
    expect(errors[0]).toBeInstanceOf(Error)
    expect((errors[0] as Error).cause).toBe('a string')
  })

  it('should cut the connection when the layer fails after its head was sent', async () => {
    const errors: unknown[] = []
    const url = await serve(
      fakeKoa(
        [
          toKoa(() => async (_req, res) => {
            res.writeHead(200, { 'content-length': '100' })
            res.write('partial')
            await Promise.resolve()
            throw new Error('disk gone')
          }),
        ],
        errors
      )
    )
    await expect(rawRequest(url)).rejects.toThrow()
    expect(errors.map((e) => (e as Error).message)).toEqual(['disk gone'])
  })

  it('should refuse a second next() without running Koa downstream again', async () => {
    const errors: unknown[] = []
    let routeRuns = 0
    const twice: Middleware = (next) => async (req, res) => {
      await next(req, res)
      await next(req, res)
    }
    const url = await serve(
      fakeKoa(
        [
          toKoa(twice),
          (ctx) => {
            routeRuns++
            send(ctx, 'once')
          },
        ],
        errors
      )
    )
    const res = await fetch(url)
    expect(res.status).toBe(500)
    expect(routeRuns).toBe(1)
    expect(String(errors[0])).toMatch(/next\(\) was called more than once/)
  })

  it('should report a layer that passes on after Koa has moved on', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    let routeRan = false
    let passedLate: () => void = () => {}
    const passed = new Promise<void>((r) => {
      passedLate = r
    })
    const sloppy: Middleware = (next) => (req, res) => {
      res.end('answered')
      setTimeout(() => {
        void next(req, res)
        passedLate()
      }, 5)
    }
    try {
      const url = await serve(
        fakeKoa([
          toKoa(sloppy),
          () => {
            routeRan = true
          },
        ])
      )
      expect(await (await fetch(url)).text()).toBe('answered')
      await passed
      expect(routeRan).toBe(false)
      expect(logged).toHaveBeenCalledTimes(1)
      expect(String(logged.mock.calls[0]?.[1])).toMatch(/after Koa had moved on/)
    } finally {
      logged.mockRestore()
    }
  })
})

describe('toKoa: several layers', () => {
  it('should keep two passes of one adapter apart, so the outer one still reaches Koa', async () => {
    const errors: unknown[] = []
    let passes = 0
    const layer: Middleware = (next) => async (req, res) => {
      const pass = ++passes
      await next(req, res)
      if (pass === 1) throw new HttpError(409, 'outer pass failed', { expose: true })
    }
    const shared = toKoa(layer)
    const url = await serve(
      fakeKoa(
        [
          shared,
          shared,
          (ctx) => {
            send(ctx, 'route')
          },
        ],
        errors
      )
    )
    const res = await fetch(url)
    expect(passes).toBe(2)
    expect(res.status).toBe(409)
    expect(await res.text()).toBe('outer pass failed')
    expect(errors).toHaveLength(1)
  })

  it('should chain separate adapters with Koa middleware between them', async () => {
    const tag =
      (name: string): Middleware =>
      (next) =>
      (req, res) => {
        onHeaders(res, () => res.appendHeader('x-tags', name))
        return next(req, res)
      }
    const url = await serve(
      fakeKoa([
        toKoa(tag('a')),
        async (_ctx, next) => {
          await next()
        },
        toKoa(tag('b')),
        (ctx) => {
          send(ctx, 'ok')
        },
      ])
    )
    const res = await fetch(url)
    expect(await res.text()).toBe('ok')
    expect(res.headers.get('x-tags')).toBe('b, a')
  })
})

describe('toKoa: building', () => {
  it('should refuse a non-function and a middleware that returns no handler', () => {
    expect(() => toKoa(undefined as never)).toThrow(/toKoa: the middleware must be a function/)
    expect(() => toKoa((() => 42) as never)).toThrow(/did not return a handler function/)
  })

  it('should build the layer once, not per request', async () => {
    let builds = 0
    const counted: Middleware = (next) => {
      builds++
      return next
    }
    const url = await serve(
      fakeKoa([
        toKoa(counted),
        (ctx) => {
          send(ctx, 'ok')
        },
      ])
    )
    await fetch(url)
    await fetch(url)
    expect(builds).toBe(1)
  })
})
