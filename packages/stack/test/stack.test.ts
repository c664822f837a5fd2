import { failOnUnhandledRejections, listen, rawRequest } from '@shallot/test-utils'
import { describe, expect, it, vi } from 'vitest'
import {
  claimErrorReport,
  type ErrorListener,
  getError,
  type Handler,
  HttpError,
  isErrorReportClaimed,
  type Middleware,
  onHeaders,
  stack,
  when,
} from '../src/index.js'

const ok: Handler = (_req, res) => {
  res.setHeader('content-type', 'text/plain')
  res.end('ok')
}

/** Collects errors and makes unhandled rejections fail the test. */
function errorSink() {
  const errors: Error[] = []
  const onError: ErrorListener = (err) => {
    errors.push(err)
  }
  return { errors, onError }
}

failOnUnhandledRejections()

describe('stack: composition', () => {
  it('should return the handler unchanged for an empty stack', () => {
    expect(stack()(ok)).toBe(ok)
    expect(stack(false, null, undefined, 0, '')(ok)).toBe(ok)
  })

  it('should run layers in onion order, first = outermost, before and after', async () => {
    const trace: string[] = []
    const layer =
      (n: number): Middleware =>
      (next) =>
      async (req, res) => {
        trace.push(`>${n}`)
        await next(req, res)
        trace.push(`<${n}`)
      }
    const app = stack(
      layer(1),
      layer(2),
      layer(3),
      layer(4),
      layer(5),
      layer(6)
    )((_req, res) => {
      trace.push('app')
      res.end()
    })
    const server = await listen(app)
    try {
      await fetch(server.url)
      expect(trace).toEqual([
        '>1',
        '>2',
        '>3',
        '>4',
        '>5',
        '>6',
        'app',
        '<6',
        '<5',
        '<4',
        '<3',
        '<2',
        '<1',
      ])
    } finally {
      await server.close()
    }
  })

  it('should build each layer once, at start-up, not per request', async () => {
    let builds = 0
    const counted: Middleware = (next) => {
      builds++
      return next
    }
    const server = await listen(stack(counted, counted)(ok))
    try {
      await fetch(server.url)
      await fetch(server.url)
      expect(builds).toBe(2)
    } finally {
      await server.close()
    }
  })

  it('should nest stacks, skip falsy entries and leave its arguments unchanged', async () => {
    const trace: string[] = []
    const tagLayer =
      (n: string): Middleware =>
      (next) =>
      (req, res) => {
        trace.push(n)
        return next(req, res)
      }
    const layers = [tagLayer('a'), false, tagLayer('b')] as const
    const copy = [...layers]
    const inner = stack(...layers)
    const app = stack(tagLayer('outer'), inner, null, stack(tagLayer('c')))(ok)
    expect(layers).toEqual(copy)
    const server = await listen(app)
    try {
      expect(await (await fetch(server.url)).text()).toBe('ok')
      expect(trace).toEqual(['outer', 'a', 'b', 'c'])
    } finally {
      await server.close()
    }
  })

  it('should let a layer short-circuit without calling next', async () => {
    let reached = false
    const deny: Middleware = () => (_req, res) => {
      res.statusCode = 403
      res.end('no')
    }
    const server = await listen(
      stack(deny)((_req, res) => {
        reached = true
        res.end()
      })
    )
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(403)
      expect(await res.text()).toBe('no')
      expect(reached).toBe(false)
    } finally {
      await server.close()
    }
  })

  it('should reject invalid layers and options at build time, naming them', () => {
    expect(() => stack(42 as never)).toThrow(/\[@shallot\/stack\] layer 0 must be a middleware/)
    expect(() => stack({ onError: 'x' as never })).toThrow(/option "onError" must be a function/)
    expect(() => stack(((): never => undefined as never) as Middleware)(ok)).toThrow(
      /layer 0 returned undefined instead of a handler/
    )
    expect(() => stack((n) => n)(undefined as never)).toThrow(/the handler must be a function/)
  })
})

describe('stack: error boundary', () => {
  const cases: [string, Handler][] = [
    [
      'a sync throw',
      () => {
        throw new Error('secret detail')
      },
    ],
    [
      'an async rejection',
      async () => {
        await Promise.resolve()
        throw new Error('secret detail')
      },
    ],
    [
      'a thrown string',
      () => {
        throw 'secret detail'
      },
    ],
    ['a rejected undefined', () => Promise.reject(undefined)],
  ]
  for (const [what, handler] of cases) {
    it(`should turn ${what} into a 500 without leaking the message or a stack trace`, async () => {
      const sink = errorSink()
      const server = await listen(stack({ onError: sink.onError }, (next) => next)(handler))
      try {
        const res = await fetch(server.url)
        expect(res.status).toBe(500)
        expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
        expect(res.headers.get('x-content-type-options')).toBe('nosniff')
        const body = await res.text()
        expect(body).toBe('Internal Server Error\n')
        expect(body).not.toMatch(/secret|at /)
        expect(sink.errors).toHaveLength(1)
        expect(sink.errors[0]).toBeInstanceOf(Error)
      } finally {
        await server.close()
      }
    })
  }

  it('should let a layer claim the error report so defaultOnError stays silent, but not a custom onError', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    const sink = errorSink()
    const claim: Middleware = (next) => (req, res) => {
      if (req.url === '/claimed') claimErrorReport(req)
      expect(isErrorReportClaimed(req)).toBe(req.url === '/claimed')
      return next(req, res)
    }
    const fail: Handler = () => {
      throw new Error('boom')
    }
    const quiet = await listen(stack(claim)(fail))
    const custom = await listen(stack({ onError: sink.onError }, claim)(fail))
    try {
      expect((await fetch(`${quiet.url}/claimed`)).status).toBe(500)
      expect(logged).not.toHaveBeenCalled()
      expect((await fetch(`${quiet.url}/other`)).status).toBe(500)
      expect(logged).toHaveBeenCalledTimes(1)
      expect((await fetch(`${custom.url}/claimed`)).status).toBe(500)
      expect(sink.errors).toHaveLength(1)
    } finally {
      logged.mockRestore()
      await quiet.close()
      await custom.close()
    }
  })

  it('should render an HttpError with its status, safe message and headers, as JSON when asked', async () => {
    const sink = errorSink()
    const app = stack(
      { onError: sink.onError },
      (next) => next
    )(() => {
      throw new HttpError(401, 'API key required', { headers: { 'WWW-Authenticate': 'ApiKey' } })
    })
    const server = await listen(app)
    try {
      const text = await fetch(server.url)
      expect(text.status).toBe(401)
      expect(text.headers.get('www-authenticate')).toBe('ApiKey')
      expect(await text.text()).toBe('API key required\n')
      const json = await fetch(server.url, { headers: { accept: 'application/json' } })
      expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(await json.json()).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        message: 'API key required',
      })
      const html = await fetch(server.url, {
        headers: { accept: 'text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8' },
      })
      expect(html.headers.get('content-type')).toMatch(/^text\/plain/)
    } finally {
      await server.close()
    }
  })

  it('should hide the message of a 5xx HttpError unless exposed, and send no body to HEAD', async () => {
    const app = stack(
      { onError: () => {} },
      (next) => next
    )((req) => {
      if (req.url === '/exposed') throw new HttpError(503, 'Down for maintenance', { expose: true })
      throw new HttpError(502, 'upstream 10.0.0.7 refused')
    })
    const server = await listen(app)
    try {
      const hidden = await fetch(server.url)
      expect(hidden.status).toBe(502)
      expect(await hidden.text()).toBe('Bad Gateway\n')
      const exposed = await fetch(`${server.url}/exposed`)
      expect(await exposed.text()).toBe('Down for maintenance\n')
      const head = await rawRequest(server.url, { method: 'HEAD' })
      expect(head.status).toBe(502)
      expect(head.body).toBe('')
    } finally {
      await server.close()
    }
  })

  it('should drop body headers set before the error but keep the others', async () => {
    const app = stack(
      { onError: () => {} },
      (next) => next
    )((_req, res) => {
      res.setHeader('Content-Type', 'image/png')
      res.setHeader('ETag', '"abc"')
      res.setHeader('Cache-Control', 'public, max-age=3600')
      res.setHeader('Set-Cookie', 'a=1')
      throw new Error('x')
    })
    const server = await listen(app)
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(500)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
      expect(res.headers.get('etag')).toBeNull()
      expect(res.headers.get('cache-control')).toBeNull()
      expect(res.headers.get('set-cookie')).toBe('a=1')
    } finally {
      await server.close()
    }
  })

  it('should honour status and expose of http-errors style errors', async () => {
    const app = stack(
      { onError: () => {} },
      (next) => next
    )(() => {
      throw Object.assign(new Error('request entity too large'), { status: 413, expose: true })
    })
    const server = await listen(app)
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(413)
      expect(await res.text()).toBe('request entity too large\n')
    } finally {
      await server.close()
    }
  })

  it('should end the connection on an error after the head is sent, and keep serving', async () => {
    const sink = errorSink()
    const app = stack(
      { onError: sink.onError },
      (next) => next
    )(async (req, res) => {
      if (req.url === '/fine') return ok(req, res)
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('partial ')
      await new Promise((r) => setTimeout(r, 10))
      throw new Error('failed mid-stream')
    })
    const server = await listen(app)
    try {
      await expect(rawRequest(server.url)).rejects.toThrow()
      expect(sink.errors.map((e) => e.message)).toEqual(['failed mid-stream'])
      const res = await fetch(`${server.url}/fine`)
      expect(await res.text()).toBe('ok')
    } finally {
      await server.close()
    }
  })

  it('should only report an error after the response completed', async () => {
    const sink = errorSink()
    const app = stack(
      { onError: sink.onError },
      (next) => next
    )(async (_req, res) => {
      res.end('done')
      throw new Error('after the end')
    })
    const server = await listen(app)
    try {
      const res = await fetch(server.url)
      expect(await res.text()).toBe('done')
      await new Promise((r) => setTimeout(r, 20))
      expect(sink.errors.map((e) => e.message)).toEqual(['after the end'])
    } finally {
      await server.close()
    }
  })

  it('should catch a rejection from a next() that a layer did not await', async () => {
    const sink = errorSink()
    const fireAndForget: Middleware = (next) => (req, res) => {
      setTimeout(() => {
        void next(req, res)
      }, 1)
    }
    const server = await listen(
      stack(
        { onError: sink.onError },
        fireAndForget
      )(async () => {
        throw new HttpError(418, 'teapot')
      })
    )
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(418)
      expect(sink.errors).toHaveLength(1)
    } finally {
      await server.close()
    }
  })

  it('should resolve next() for an outer layer after an inner error, with getError(req) set', async () => {
    let seen: Error | undefined
    let status = 0
    const outer: Middleware = (next) => async (req, res) => {
      await next(req, res)
      seen = getError(req)
      status = res.statusCode
    }
    const server = await listen(
      stack(
        { onError: () => {} },
        outer
      )(() => {
        throw new HttpError(409, 'conflict')
      })
    )
    try {
      expect((await fetch(server.url)).status).toBe(409)
      expect(seen).toBeInstanceOf(HttpError)
      expect(status).toBe(409)
    } finally {
      await server.close()
    }
  })

  it('should keep headers set by outer layers in onHeaders on the error response', async () => {
    const cors: Middleware = (next) => (req, res) => {
      onHeaders(res, () => res.setHeader('access-control-allow-origin', '*'))
      return next(req, res)
    }
    const server = await listen(
      stack(
        { onError: () => {} },
        cors
      )(() => {
        throw new Error('x')
      })
    )
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(500)
      expect(res.headers.get('access-control-allow-origin')).toBe('*')
    } finally {
      await server.close()
    }
  })

  it('should survive an onError that throws', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    const server = await listen(
      stack(
        {
          onError: () => {
            throw new Error('broken logger')
          },
        },
        (next) => next
      )(() => {
        throw new Error('x')
      })
    )
    try {
      expect((await fetch(server.url)).status).toBe(500)
      await new Promise((r) => setTimeout(r, 10))
      expect(warnings.some((w) => w.includes('broken logger'))).toBe(true)
    } finally {
      process.off('warning', onWarning)
      await server.close()
    }
  })

  it('should report errors of a nested stack to its own onError, then to the outer one', async () => {
    const order: string[] = []
    const throwing: Middleware = (next) => (req, res) => {
      if (req.url === '/inner') throw new Error('deep')
      return next(req, res)
    }
    const inner = stack({ onError: (e) => order.push(`inner:${e.message}`) }, throwing)
    const app = stack(
      { onError: (e) => order.push(`outer:${e.message}`) },
      inner
    )((req) => {
      throw new Error(`app${req.url}`)
    })
    const server = await listen(app)
    try {
      expect((await fetch(`${server.url}/inner`)).status).toBe(500)
      expect(order).toEqual(['inner:deep', 'outer:deep'])
      // The app belongs to the outer stack: the inner stack's onError does not see its errors.
      expect((await fetch(`${server.url}/x`)).status).toBe(500)
      expect(order).toEqual(['inner:deep', 'outer:deep', 'outer:app/x'])
    } finally {
      await server.close()
    }
  })
})

describe('stack: next() called twice', () => {
  const twiceSync: Middleware = function twiceSync(next) {
    return (req, res) => {
      next(req, res)
      next(req, res)
    }
  }
  const twiceAsync: Middleware = function twiceAsync(next) {
    return async (req, res) => {
      await next(req, res)
      await next(req, res)
    }
  }
  for (const [name, layer] of [
    ['sync', twiceSync],
    ['async', twiceAsync],
  ] as const) {
    for (const env of ['production', 'development']) {
      it(`should report a ${name} double next() through the boundary (NODE_ENV=${env}) and run the handler once`, async () => {
        const saved = process.env.NODE_ENV
        process.env.NODE_ENV = env
        const sink = errorSink()
        let runs = 0
        const handler: Handler = (_req, res) => {
          runs++
          res.statusCode = 204
          res.end()
        }
        const server = await listen(stack({ onError: sink.onError }, layer)(handler))
        try {
          const res = await fetch(server.url)
          expect(res.status).toBe(204)
          await new Promise((r) => setTimeout(r, 10))
          expect(runs).toBe(1)
          expect(sink.errors.map((e) => e.message)).toEqual([
            `[@shallot/stack] next() was called more than once by layer "${name === 'sync' ? 'twiceSync' : 'twiceAsync'}" (index 0)`,
          ])
        } finally {
          process.env.NODE_ENV = saved
          await server.close()
        }
      })
    }
  }

  it('should name the handler when the middleware itself is anonymous', async () => {
    const errors: string[] = []
    const layers: Middleware[] = [
      (next) => next,
      (next) =>
        function cors(req, res) {
          void next(req, res)
          void next(req, res)
        },
    ]
    const server = await listen(stack({ onError: (e) => errors.push(e.message) }, ...layers)(ok))
    try {
      await fetch(server.url)
      expect(errors).toEqual([
        '[@shallot/stack] next() was called more than once by layer "cors" (index 1)',
      ])
    } finally {
      await server.close()
    }
  })

  it('should turn a double next() before the head is sent into a 500', async () => {
    const twice: Middleware = (next) => (req, res) => {
      void next(req, res)
      void next(req, res)
    }
    const server = await listen(
      stack(
        { onError: () => {} },
        twice
      )(async (_req, res) => {
        await new Promise((r) => setTimeout(r, 5))
        res.end('late')
      })
    )
    try {
      const res = await rawRequest(server.url).catch((e: Error) => e)
      // The double call is seen before the handler writes: 500, and the late write is refused.
      expect(res).not.toBeInstanceOf(Error)
      expect((res as { status: number }).status).toBe(500)
    } finally {
      await server.close()
    }
  })
})

describe('when(predicate, mw)', () => {
  const mark: Middleware = (next) => (req, res) => {
    res.setHeader('x-marked', 'yes')
    return next(req, res)
  }
  it('should run the layer only when the predicate holds (sync or async)', async () => {
    const app = stack(
      when((req) => req.method === 'POST', mark),
      when(
        async (req) => req.headers['x-async'] === '1',
        (next) => (req, res) => {
          res.setHeader('x-async-marked', 'yes')
          return next(req, res)
        }
      )
    )(ok)
    const server = await listen(app)
    try {
      expect((await fetch(server.url)).headers.get('x-marked')).toBeNull()
      expect((await fetch(server.url, { method: 'POST' })).headers.get('x-marked')).toBe('yes')
      const res = await fetch(server.url, { headers: { 'x-async': '1' } })
      expect(res.headers.get('x-async-marked')).toBe('yes')
    } finally {
      await server.close()
    }
  })

  it('should send a throwing predicate to the boundary', async () => {
    const sink = errorSink()
    const app = stack(
      { onError: sink.onError },
      when(() => {
        throw new HttpError(400, 'bad predicate input')
      }, mark)
    )(ok)
    const server = await listen(app)
    try {
      expect((await fetch(server.url)).status).toBe(400)
      expect(sink.errors).toHaveLength(1)
    } finally {
      await server.close()
    }
  })

  it('should reject bad arguments at build time', () => {
    expect(() => when('x' as never, mark)).toThrow(/predicate must be a function/)
    expect(() => when(() => true, 1 as never)).toThrow(/middleware must be a function/)
  })
})
