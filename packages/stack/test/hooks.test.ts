import { createConnection } from 'node:net'
import { listen, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { type Handler, type Middleware, onFinished, onHeaders, stack } from '../src/index.js'

/** A layer that stamps x-hooked and counts how often its onHeaders listener ran. */
function hooked(counter: { runs: number }): Middleware {
  return (next) => (req, res) => {
    onHeaders(res, () => {
      counter.runs++
      res.setHeader('x-hooked', String(res.statusCode))
    })
    return next(req, res)
  }
}

const writeHeadForms: [string, Handler][] = [
  ['writeHead(status)', (_req, res) => void res.writeHead(201).end('x')],
  ['writeHead(status, message)', (_req, res) => void res.writeHead(201, 'Made').end('x')],
  [
    'writeHead(status, headersObject)',
    (_req, res) => void res.writeHead(201, { 'x-app': 'a', 'content-type': 'text/plain' }).end('x'),
  ],
  [
    'writeHead(status, message, headersObject)',
    (_req, res) => void res.writeHead(201, 'Made', { 'x-app': 'a' }).end('x'),
  ],
  [
    'writeHead(status, flatArray)',
    (_req, res) =>
      void res.writeHead(201, ['x-app', 'a', 'set-cookie', 'a=1', 'set-cookie', 'b=2']).end('x'),
  ],
  [
    'writeHead(status, [[k, v]])',
    (_req, res) =>
      void res
        .writeHead(201, [
          ['x-app', 'a'],
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
        ] as unknown as string[])
        .end('x'),
  ],
  [
    'implicit head from end()',
    (_req, res) => {
      res.statusCode = 201
      res.end('x')
    },
  ],
  [
    'implicit head from write()',
    (_req, res) => {
      res.statusCode = 201
      res.write('x')
      res.end()
    },
  ],
  [
    'flushHeaders()',
    (_req, res) => {
      res.statusCode = 201
      res.flushHeaders()
      res.end('x')
    },
  ],
]

describe('onHeaders', () => {
  for (const [form, handler] of writeHeadForms) {
    it(`should run once before the head for ${form}`, async () => {
      const counter = { runs: 0 }
      const server = await listen(stack(hooked(counter))(handler))
      try {
        const res = await rawRequest(server.url)
        expect(res.status).toBe(201)
        expect(res.headers['x-hooked']).toBe('201')
        expect(res.body).toBe('x')
        expect(counter.runs).toBe(1)
        if (form.includes('Array') || form.includes('[[')) {
          expect(res.headers['x-app']).toBe('a')
          expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2'])
        }
        if (form.includes('Object')) expect(res.headers['x-app']).toBe('a')
      } finally {
        await server.close()
      }
    })
  }

  it('should keep the status message given to writeHead', async () => {
    const server = await listen(
      stack(hooked({ runs: 0 }))((_req, res) => void res.writeHead(201, 'Made Here').end())
    )
    try {
      const res = await new Promise<string>((resolve, reject) => {
        const socket = createConnection(server.port, '127.0.0.1', () => {
          socket.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        })
        let data = ''
        socket.on('data', (d) => (data += d.toString()))
        socket.on('end', () => resolve(data))
        socket.on('error', reject)
      })
      expect(res.startsWith('HTTP/1.1 201 Made Here\r\n')).toBe(true)
    } finally {
      await server.close()
    }
  })

  it('should let a listener see headers passed to writeHead and change the status', async () => {
    const seen: unknown[] = []
    const layer: Middleware = (next) => (req, res) => {
      onHeaders(res, () => {
        seen.push(res.getHeader('x-app'))
        if (res.statusCode === 200) res.statusCode = 203
      })
      return next(req, res)
    }
    const server = await listen(
      stack(layer)((_req, res) => void res.writeHead(200, { 'x-app': 'v' }).end())
    )
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(203)
      expect(seen).toEqual(['v'])
    } finally {
      await server.close()
    }
  })

  it('should run listeners in reverse order of registration (outermost last)', async () => {
    const order: string[] = []
    const layer =
      (name: string): Middleware =>
      (next) =>
      (req, res) => {
        onHeaders(res, () => {
          order.push(name)
          res.setHeader('x-last', name)
        })
        return next(req, res)
      }
    const server = await listen(
      stack(
        layer('outer'),
        layer('inner')
      )((_req, res) => {
        res.end()
      })
    )
    try {
      const res = await fetch(server.url)
      expect(order).toEqual(['inner', 'outer'])
      expect(res.headers.get('x-last')).toBe('outer')
    } finally {
      await server.close()
    }
  })

  it('should turn a throwing listener into a 500 that still carries the other listeners', async () => {
    const errors: string[] = []
    const outer: Middleware = (next) => (req, res) => {
      onHeaders(res, () => res.setHeader('x-outer', 'kept'))
      return next(req, res)
    }
    const broken: Middleware = (next) => (req, res) => {
      onHeaders(res, () => {
        throw new Error('listener failed')
      })
      return next(req, res)
    }
    const server = await listen(
      stack(
        { onError: (e) => errors.push(e.message) },
        outer,
        broken
      )((_req, res) => {
        res.setHeader('content-type', 'application/octet-stream')
        res.end('body')
      })
    )
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(500)
      expect(res.headers.get('x-outer')).toBe('kept')
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
      expect(await res.text()).toBe('Internal Server Error\n')
      expect(errors).toEqual(['listener failed'])
      // the server keeps serving
      expect((await fetch(server.url)).status).toBe(500)
    } finally {
      await server.close()
    }
  })

  it('should not run a lone throwing listener again on the error response', async () => {
    const errors: string[] = []
    let runs = 0
    const broken: Middleware = (next) => (req, res) => {
      onHeaders(res, () => {
        runs++
        throw new Error('lone listener failed')
      })
      return next(req, res)
    }
    const server = await listen(
      stack(
        { onError: (e) => errors.push(e.message) },
        broken
      )((_req, res) => {
        res.end('body')
      })
    )
    try {
      const res = await fetch(server.url)
      expect(res.status).toBe(500)
      expect(await res.text()).toBe('Internal Server Error\n')
      expect(runs).toBe(1)
      expect(errors).toEqual(['lone listener failed'])
    } finally {
      await server.close()
    }
  })

  it('should run a listener that another listener registers before the same head', async () => {
    const order: string[] = []
    const layer: Middleware = (next) => (req, res) => {
      onHeaders(res, () => {
        order.push('first')
        onHeaders(res, () => {
          order.push('nested')
          res.setHeader('x-nested', 'yes')
        })
      })
      return next(req, res)
    }
    const server = await listen(stack(layer)((_req, res) => void res.end('x')))
    try {
      const res = await fetch(server.url)
      expect(res.headers.get('x-nested')).toBe('yes')
      expect(order).toEqual(['first', 'nested'])
    } finally {
      await server.close()
    }
  })

  it('should work with writeHead wrappers other libraries put on the response, before or after', async () => {
    const order: string[] = []
    /** What on-headers and compression do: replace res.writeHead on the instance. */
    const foreign =
      (name: string): Middleware =>
      (next) =>
      (req, res) => {
        const original = res.writeHead
        res.writeHead = function (this: typeof res, ...args: unknown[]) {
          order.push(name)
          this.setHeader(`x-${name}`, 'ran')
          return (original as (...a: unknown[]) => typeof res).apply(this, args)
        } as typeof res.writeHead
        return next(req, res)
      }
    const ours: Middleware = (next) => (req, res) => {
      onHeaders(res, () => {
        order.push('ours')
        res.setHeader('x-ours', 'ran')
      })
      return next(req, res)
    }
    const server = await listen(
      stack(foreign('outer'), ours, foreign('inner'))((_req, res) => void res.end('x'))
    )
    try {
      for (let i = 0; i < 2; i++) {
        order.length = 0
        const res = await fetch(server.url)
        expect(res.headers.get('x-outer')).toBe('ran')
        expect(res.headers.get('x-ours')).toBe('ran')
        expect(res.headers.get('x-inner')).toBe('ran')
        // the innermost wrapper was installed last and runs first, as with on-headers
        expect(order).toEqual(['inner', 'ours', 'outer'])
      }
    } finally {
      await server.close()
    }
  })

  it('should do nothing when the head was already sent', async () => {
    let ran = false
    const server = await listen((_req, res) => {
      res.writeHead(200)
      onHeaders(res, () => {
        ran = true
      })
      res.end()
    })
    try {
      await fetch(server.url)
      expect(ran).toBe(false)
    } finally {
      await server.close()
    }
  })

  it('should reject a listener that is not a function', async () => {
    const server = await listen((_req, res) => {
      let message = ''
      try {
        onHeaders(res, 'x' as never)
      } catch (e) {
        message = (e as Error).message
      }
      res.end(message)
    })
    try {
      expect(await (await fetch(server.url)).text()).toMatch(/listener must be a function/)
    } finally {
      await server.close()
    }
  })
})

describe('onFinished', () => {
  it('should fire once after the last byte of a large streamed body', async () => {
    const size = 8 * 1024 * 1024
    const chunk = Buffer.alloc(64 * 1024, 97)
    const events: { err: Error | null; finished: boolean; written: number }[] = []
    let written = 0
    const layer: Middleware = (next) => (req, res) => {
      onFinished(res, (err, r) => events.push({ err, finished: r.writableFinished, written }))
      return next(req, res)
    }
    const handler: Handler = (_req, res) => {
      res.setHeader('content-length', size)
      const pump = (): void => {
        while (written < size) {
          written += chunk.length
          if (!res.write(chunk)) {
            res.once('drain', pump)
            return
          }
        }
        res.end()
      }
      pump()
    }
    const server = await listen(stack(layer)(handler))
    try {
      const res = await fetch(server.url)
      const body = Buffer.from(await res.arrayBuffer())
      expect(body.length).toBe(size)
      await new Promise((r) => setTimeout(r, 20))
      expect(events).toEqual([{ err: null, finished: true, written: size }])
    } finally {
      await server.close()
    }
  })

  it('should fire once with an error when the client aborts', async () => {
    const events: (Error | null)[] = []
    let resolveDone: () => void = () => {}
    const done = new Promise<void>((r) => {
      resolveDone = r
    })
    const server = await listen(
      stack((next) => (req, res) => {
        onFinished(res, (err) => {
          events.push(err)
          resolveDone()
        })
        return next(req, res)
      })((_req, res) => {
        res.write('start')
      })
    )
    try {
      const socket = createConnection(server.port, '127.0.0.1')
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      socket.once('data', () => socket.destroy())
      await done
      await new Promise((r) => setTimeout(r, 20))
      expect(events).toHaveLength(1)
      expect((events[0] as Error & { code?: string }).code).toBe('ERR_STREAM_PREMATURE_CLOSE')
    } finally {
      await server.close()
    }
  })

  it('should call listeners registered after the end on the next tick', async () => {
    const events: (Error | null)[] = []
    const server = await listen((_req, res) => {
      res.end('x')
      res.once('close', () => {
        onFinished(res, (err) => events.push(err))
      })
    })
    try {
      await fetch(server.url)
      await new Promise((r) => setTimeout(r, 20))
      expect(events).toEqual([null])
    } finally {
      await server.close()
    }
  })

  it('should run every listener once and send a throwing one to onError', async () => {
    const calls: string[] = []
    const errors: string[] = []
    const server = await listen(
      stack({ onError: (e) => errors.push(e.message) }, (next) => (req, res) => {
        onFinished(res, () => calls.push('a'))
        onFinished(res, () => {
          throw new Error('finished listener failed')
        })
        onFinished(res, () => calls.push('c'))
        return next(req, res)
      })((_req, res) => {
        res.end()
      })
    )
    try {
      await fetch(server.url)
      await new Promise((r) => setTimeout(r, 20))
      expect(calls).toEqual(['a', 'c'])
      expect(errors).toEqual(['finished listener failed'])
    } finally {
      await server.close()
    }
  })
})
