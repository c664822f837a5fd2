import type { IncomingMessage, ServerResponse } from 'node:http'
import { gzipSync } from 'node:zlib'
import { appendVary, HttpError, onHeaders } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { compression, defaultFilter } from '../src/index.js'
import { count, decode, get, jsonBody, send, sending, text, withServer } from './helpers.js'

failOnUnhandledRejections()

const BODY = text(20_000)

describe('compression: encodings', () => {
  for (const coding of ['gzip', 'br', 'deflate']) {
    it(`should compress with ${coding} and decode to the same body`, async () => {
      await withServer(compression(), sending(BODY), async (server) => {
        const res = await get(server, coding)
        expect(res.status).toBe(200)
        expect(res.headers['content-encoding']).toBe(coding)
        expect(res.headers['content-length']).toBeUndefined()
        expect(res.headers.vary).toBe('Accept-Encoding')
        expect(res.raw.length).toBeLessThan(BODY.length / 4)
        expect(decode(res)).toBe(BODY)
      })
    })
  }

  it("should prefer br when the browser's codings are all q=1", async () => {
    await withServer(compression(), sending(BODY), async (server) => {
      const res = await get(server, 'gzip, deflate, br, zstd')
      expect(res.headers['content-encoding']).toBe('br')
      expect(decode(res)).toBe(BODY)
    })
  })

  it('should follow the order of the encodings option for ties', async () => {
    await withServer(compression({ encodings: ['gzip', 'br'] }), sending(BODY), async (server) => {
      expect((await get(server, 'gzip, deflate, br')).headers['content-encoding']).toBe('gzip')
      expect((await get(server, 'br')).headers['content-encoding']).toBe('br')
      const deflate = await get(server, 'deflate')
      expect(deflate.headers['content-encoding']).toBeUndefined()
      expect(decode(deflate)).toBe(BODY)
    })
  })

  it('should send identity, with Vary, when the request has no Accept-Encoding', async () => {
    await withServer(compression(), sending(BODY), async (server) => {
      const res = await get(server, undefined)
      expect(res.headers['content-encoding']).toBeUndefined()
      expect(res.headers['content-length']).toBe(String(BODY.length))
      expect(res.headers.vary).toBe('Accept-Encoding')
      expect(res.raw.toString()).toBe(BODY)
    })
  })

  it('should apply level and brotliQuality', async () => {
    const sizes: Record<string, number> = {}
    for (const [name, options] of [
      ['gzip-0', { level: 0 }],
      ['gzip-9', { level: 9 }],
      ['br-0', { brotliQuality: 0 }],
      ['br-11', { brotliQuality: 11 }],
    ] as const) {
      await withServer(compression(options), sending(BODY), async (server) => {
        const res = await get(server, name.startsWith('br') ? 'br' : 'gzip')
        expect(decode(res)).toBe(BODY)
        sizes[name] = res.raw.length
      })
    }
    // Level 0 stores the body (plus framing); quality 11 beats quality 0.
    expect(sizes['gzip-0']).toBeGreaterThan(BODY.length)
    expect(sizes['gzip-9']).toBeLessThan(BODY.length / 4)
    expect(sizes['br-11']).toBeLessThan(sizes['br-0'] as number)
  })

  it('should compress with a small chunkSize', async () => {
    await withServer(compression({ chunkSize: 64 }), sending(BODY), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(decode(res)).toBe(BODY)
    })
  })
})

describe('compression: Accept-Encoding q-values', () => {
  const cases: [string, string | undefined][] = [
    ['gzip;q=0, deflate', 'deflate'],
    ['gzip;q=0', undefined],
    ['*', 'gzip'],
    ['br;q=0, *', 'gzip'],
    ['gzip;q=0, *', 'br'],
    ['*;q=0', undefined],
    ['identity;q=0', undefined],
    ['identity;q=0, gzip', 'gzip'],
    ['gzip;q=0.5, identity', undefined],
    ['gzip, identity;q=0.5', 'gzip'],
    ['gzip;q=0.5, br;q=0.8', 'br'],
    ['br;q=0.5, gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['gzip;q=2', undefined],
    ['compress, zstd', undefined],
    ['', undefined],
  ]
  for (const [header, expected] of cases) {
    it(`should answer ${JSON.stringify(header)} with ${expected ?? 'identity'}`, async () => {
      await withServer(compression(), sending(BODY), async (server) => {
        const res = await get(server, header)
        expect(res.status).toBe(200)
        expect(res.headers['content-encoding']).toBe(expected)
        expect(decode(res)).toBe(BODY)
      })
    })
  }
})

describe('compression: threshold', () => {
  it('should send a body below the threshold as it is, with its Content-Length', async () => {
    await withServer(compression(), sending(text(1023)), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBeUndefined()
      expect(res.headers['content-length']).toBe('1023')
      expect(res.chunked).toBe(false)
      expect(res.headers.vary).toBe('Accept-Encoding')
      expect(res.raw.toString()).toBe(text(1023))
    })
  })

  it('should compress a body of exactly the threshold', async () => {
    await withServer(compression(), sending(text(1024)), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(decode(res)).toBe(text(1024))
    })
  })

  it('should keep a Content-Length set by the application below the threshold', async () => {
    const body = text(500)
    await withServer(
      compression(),
      (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.setHeader('Content-Length', Buffer.byteLength(body))
        res.write(body.slice(0, 100))
        res.end(body.slice(100))
      },
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.headers['content-encoding']).toBeUndefined()
        expect(res.headers['content-length']).toBe('500')
        expect(res.raw.toString()).toBe(body)
      }
    )
  })

  it('should count the bytes, not the characters, of a string body', async () => {
    const body = 'é'.repeat(600) // 1200 bytes
    await withServer(compression({ threshold: 1100 }), sending(body), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(decode(res)).toBe(body)
    })
  })

  it('should honour threshold 0 and a higher threshold', async () => {
    await withServer(compression({ threshold: 0 }), sending('tiny'), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(decode(res)).toBe('tiny')
    })
    await withServer(compression({ threshold: 5000 }), sending(text(3000)), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBeUndefined()
      expect(res.headers['content-length']).toBe('3000')
    })
  })

  it('should compress a streamed body of unknown length whatever its size', async () => {
    await withServer(
      compression(),
      (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.write('small ')
        res.end('stream')
      },
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.headers['content-encoding']).toBe('gzip')
        expect(decode(res)).toBe('small stream')
      }
    )
  })

  it('should send Content-Length: 0 for an empty 200, as Node does', async () => {
    await withServer(compression(), sending(''), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-length']).toBe('0')
      expect(res.raw.length).toBe(0)
    })
  })
})

describe('compression: types and filter', () => {
  it('should compress JSON, SVG and JavaScript', async () => {
    for (const type of ['application/json', 'image/svg+xml', 'text/javascript; charset=utf-8']) {
      await withServer(compression(), sending(BODY, type), async (server) => {
        const res = await get(server, 'gzip')
        expect(res.headers['content-encoding']).toBe('gzip')
      })
    }
  })

  it('should not compress types that do not compress, nor a response without a type', async () => {
    const png = Buffer.alloc(5000, 7)
    await withServer(compression(), sending(png, 'image/png'), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBeUndefined()
      expect(res.headers.vary).toBeUndefined()
      expect(res.headers['content-length']).toBe('5000')
      expect(res.raw.equals(png)).toBe(true)
    })
    await withServer(
      compression(),
      (_req, res) => {
        res.end(BODY)
      },
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.headers['content-encoding']).toBeUndefined()
        expect(res.raw.toString()).toBe(BODY)
      }
    )
  })

  it('should ask the filter, which can build on defaultFilter', async () => {
    const seen: string[] = []
    const filter = (req: IncomingMessage, res: ServerResponse) => {
      seen.push(String(res.getHeader('content-type')))
      return req.headers['x-no-compression'] === undefined && defaultFilter(req, res)
    }
    await withServer(compression({ filter }), sending(BODY), async (server) => {
      expect((await get(server, 'gzip')).headers['content-encoding']).toBe('gzip')
      const refused = await get(server, 'gzip', { headers: { 'x-no-compression': '1' } })
      expect(refused.headers['content-encoding']).toBeUndefined()
      expect(refused.headers.vary).toBeUndefined()
      expect(decode(refused)).toBe(BODY)
    })
    expect(seen).toEqual(['text/plain; charset=utf-8', 'text/plain; charset=utf-8'])
    await withServer(
      compression({ filter: () => true }),
      sending(BODY, 'application/octet-stream'),
      async (server) => {
        expect((await get(server, 'gzip')).headers['content-encoding']).toBe('gzip')
      }
    )
  })

  it('should treat a filter answer other than true as no', async () => {
    const filter = (() => 1) as unknown as () => boolean
    await withServer(compression({ filter }), sending(BODY), async (server) => {
      expect((await get(server, 'gzip')).headers['content-encoding']).toBeUndefined()
    })
  })
})

describe('compression: Vary', () => {
  it('should merge Accept-Encoding into the Vary of an inner layer, once', async () => {
    const inner = () => (req: IncomingMessage, res: ServerResponse) => {
      appendVary(res, 'Origin')
      onHeaders(res, (r) => appendVary(r, 'Accept-Language'))
      return sending(BODY)(req, res)
    }
    await withServer(compression(), inner(), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(count(res, 'vary')).toBe(1)
      expect(res.headers.vary).toBe('Origin, Accept-Language, Accept-Encoding')
    })
  })

  it('should not duplicate an Accept-Encoding the application already varies on', async () => {
    await withServer(
      compression(),
      sending(BODY, 'text/plain', { Vary: 'accept-encoding, Origin' }),
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.headers.vary).toBe('accept-encoding, Origin')
        expect(count(res, 'vary')).toBe(1)
      }
    )
  })

  it('should keep Vary: *', async () => {
    await withServer(compression(), sending(BODY, 'text/plain', { Vary: '*' }), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(res.headers.vary).toBe('*')
    })
  })
})

describe('compression: ETag', () => {
  it('should weaken a strong ETag and drop Accept-Ranges when it compresses', async () => {
    const headers = { ETag: '"v1"', 'Accept-Ranges': 'bytes' }
    await withServer(compression(), sending(BODY, 'text/plain', headers), async (server) => {
      const res = await get(server, 'gzip')
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(res.headers.etag).toBe('W/"v1"')
      expect(res.headers['accept-ranges']).toBeUndefined()
      const plain = await get(server, undefined)
      expect(plain.headers.etag).toBe('"v1"')
      expect(plain.headers['accept-ranges']).toBe('bytes')
    })
  })

  it('should keep a weak ETag as it is', async () => {
    await withServer(
      compression(),
      sending(BODY, 'text/plain', { ETag: 'W/"v1"' }),
      async (server) => {
        expect((await get(server, 'br')).headers.etag).toBe('W/"v1"')
      }
    )
  })

  it('should answer a 304 with the ETag the client holds: weak for what it got compressed', async () => {
    // An application comparing weakly, as If-None-Match requires (RFC 9110 §13.1.2).
    const app = (req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('ETag', '"v1"')
      const tags = (req.headers['if-none-match'] ?? '').split(',').map((t) => t.trim())
      if (tags.some((t) => t.replace(/^W\//, '') === '"v1"')) {
        res.statusCode = 304
        res.end()
        return
      }
      res.setHeader('Content-Type', 'text/plain')
      res.end(BODY)
    }
    await withServer(compression(), app, async (server) => {
      const first = await get(server, 'gzip')
      expect(first.headers.etag).toBe('W/"v1"')
      const again = await get(server, 'gzip', { headers: { 'if-none-match': 'W/"v1"' } })
      expect(again.status).toBe(304)
      expect(again.headers.etag).toBe('W/"v1"')
      expect(again.headers.vary).toBe('Accept-Encoding')
      expect(again.headers['content-encoding']).toBeUndefined()
      expect(again.raw.length).toBe(0)
      const identity = await get(server, undefined, { headers: { 'if-none-match': '"v1"' } })
      expect(identity.status).toBe(304)
      expect(identity.headers.etag).toBe('"v1"')
    })
  })
})

describe('compression: already encoded responses', () => {
  it('should pass a precompressed body through untouched', async () => {
    const gz = gzipSync(BODY)
    await withServer(
      compression(),
      (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.setHeader('Content-Encoding', 'gzip')
        res.setHeader('Content-Length', gz.length)
        res.setHeader('ETag', '"gz-1"')
        res.end(gz)
      },
      async (server) => {
        const res = await get(server, 'gzip, br')
        expect(res.headers['content-encoding']).toBe('gzip')
        expect(res.headers['content-length']).toBe(String(gz.length))
        expect(res.headers.etag).toBe('"gz-1"')
        expect(res.raw.equals(gz)).toBe(true)
        expect(decode(res)).toBe(BODY)
      }
    )
  })

  it('should compress a response marked Content-Encoding: identity', async () => {
    await withServer(
      compression(),
      sending(BODY, 'text/plain', { 'Content-Encoding': 'identity' }),
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.headers['content-encoding']).toBe('gzip')
        expect(decode(res)).toBe(BODY)
      }
    )
  })
})

describe('compression: Cache-Control: no-transform', () => {
  for (const cc of ['no-transform', 'public, max-age=60, no-transform', 'No-Transform']) {
    it(`should not compress with Cache-Control: ${cc}`, async () => {
      await withServer(
        compression(),
        sending(BODY, 'text/plain', { 'Cache-Control': cc, ETag: '"a"' }),
        async (server) => {
          const res = await get(server, 'gzip, br')
          expect(res.headers['content-encoding']).toBeUndefined()
          expect(res.headers['content-length']).toBe(String(BODY.length))
          expect(res.headers.etag).toBe('"a"')
          expect(res.raw.toString()).toBe(BODY)
        }
      )
    })
  }
})

describe('compression: partial content', () => {
  /** A minimal range server: `Range: bytes=a-b` gets a 206 of the identity body. */
  const ranged = (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Content-Type', 'text/plain')
    res.setHeader('Accept-Ranges', 'bytes')
    res.setHeader('ETag', '"r1"')
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
    if (m === null) {
      res.end(BODY)
      return
    }
    const start = Number(m[1])
    const end = Number(m[2])
    if (start >= BODY.length) {
      res.writeHead(416, { 'Content-Range': `bytes */${BODY.length}` })
      res.end(text(2000))
      return
    }
    const part = BODY.slice(start, end + 1)
    res.writeHead(206, {
      'Content-Range': `bytes ${start}-${end}/${BODY.length}`,
      'Content-Length': part.length,
    })
    res.end(part)
  }

  it('should never compress a 206: the offsets are those of the identity body', async () => {
    await withServer(compression(), ranged, async (server) => {
      const res = await get(server, 'gzip, br', { headers: { range: 'bytes=100-4099' } })
      expect(res.status).toBe(206)
      expect(res.headers['content-encoding']).toBeUndefined()
      expect(res.headers['content-range']).toBe(`bytes 100-4099/${BODY.length}`)
      expect(res.headers['content-length']).toBe('4000')
      expect(res.headers.etag).toBe('"r1"')
      expect(res.headers['accept-ranges']).toBe('bytes')
      expect(res.headers.vary).toBe('Accept-Encoding')
      expect(res.raw.toString()).toBe(BODY.slice(100, 4100))
    })
  })

  it('should not compress a response carrying Content-Range (416)', async () => {
    await withServer(compression(), ranged, async (server) => {
      const res = await get(server, 'gzip', { headers: { range: 'bytes=999999-1000000' } })
      expect(res.status).toBe(416)
      expect(res.headers['content-encoding']).toBeUndefined()
      expect(res.raw.toString()).toBe(text(2000))
    })
  })

  it('should still compress the full 200 of the same resource', async () => {
    await withServer(compression(), ranged, async (server) => {
      const res = await get(server, 'gzip')
      expect(res.status).toBe(200)
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(res.headers.etag).toBe('W/"r1"')
      expect(decode(res)).toBe(BODY)
    })
  })
})

describe('compression: HEAD', () => {
  const json = jsonBody(5000)
  const app = (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Content-Type', 'application/json')
    res.setHeader('ETag', '"j"')
    if (req.url === '/declared') {
      res.setHeader('Content-Length', Buffer.byteLength(json))
      res.end(req.method === 'HEAD' ? undefined : json)
      return
    }
    if (req.url === '/small') {
      res.end('{"a":1}')
      return
    }
    res.end(json)
  }

  it('should answer HEAD with the headers GET gets, and no body', async () => {
    await withServer(compression(), app, async (server) => {
      for (const path of ['/declared', '/end']) {
        const head = await get(server, 'gzip', { method: 'HEAD', path })
        const getRes = await get(server, 'gzip', { path })
        expect(head.status).toBe(200)
        expect(head.raw.length).toBe(0)
        for (const name of ['content-encoding', 'vary', 'etag', 'content-length']) {
          expect([path, name, head.headers[name]]).toEqual([path, name, getRes.headers[name]])
        }
        expect(head.headers['content-encoding']).toBe('gzip')
        expect(head.headers.etag).toBe('W/"j"')
      }
    })
  })

  it('should answer HEAD uncompressed below the threshold or without Accept-Encoding', async () => {
    await withServer(compression(), app, async (server) => {
      const small = await get(server, 'gzip', { method: 'HEAD', path: '/small' })
      expect(small.headers['content-encoding']).toBeUndefined()
      expect(small.headers.vary).toBe('Accept-Encoding')
      const plain = await get(server, undefined, { method: 'HEAD', path: '/declared' })
      expect(plain.headers['content-encoding']).toBeUndefined()
      expect(plain.headers['content-length']).toBe(String(Buffer.byteLength(json)))
      expect(plain.headers.etag).toBe('"j"')
    })
  })
})

describe('compression: responses without a body', () => {
  it('should not compress a 204 even with a compressible type', async () => {
    await withServer(
      compression(),
      (_req, res) => {
        res.setHeader('Content-Type', 'application/json')
        res.writeHead(204)
        res.end()
      },
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.status).toBe(204)
        expect(res.headers['content-encoding']).toBeUndefined()
        expect(res.raw.length).toBe(0)
      }
    )
  })

  it('should not compress a 304 declared with writeHead before any body', async () => {
    await withServer(
      compression(),
      (_req, res) => {
        res.setHeader('Content-Type', 'text/html')
        res.writeHead(304, { ETag: '"x"' })
        res.end()
      },
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.status).toBe(304)
        expect(res.headers['content-encoding']).toBeUndefined()
        expect(res.headers.etag).toBe('"x"')
        expect(res.headers.vary).toBe('Accept-Encoding')
      }
    )
  })
})

describe('compression: errors go through the stack boundary', () => {
  it('should render a 500 when the handler throws inside the layer', async () => {
    const errors: Error[] = []
    await withServer(
      compression(),
      () => {
        throw new Error('boom')
      },
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.status).toBe(500)
        expect(res.headers['content-type']).toBe('text/plain; charset=utf-8')
        expect(res.headers['content-length']).toBe(String('Internal Server Error\n'.length))
        expect(res.headers.vary).toBe('Accept-Encoding')
        expect(decode(res)).toBe('Internal Server Error\n')
      },
      { onError: (err) => errors.push(err) }
    )
    expect(errors.map((e) => e.message)).toEqual(['boom'])
  })

  it('should render a 500 for an async rejection after headers were set', async () => {
    const errors: Error[] = []
    await withServer(
      compression(),
      async (_req, res) => {
        res.setHeader('Content-Type', 'text/html')
        res.setHeader('ETag', '"page"')
        await Promise.resolve()
        throw new Error('late boom')
      },
      async (server) => {
        const res = await get(server, 'gzip', { headers: { accept: 'application/json' } })
        expect(res.status).toBe(500)
        expect(res.headers.etag).toBeUndefined()
        expect(JSON.parse(decode(res))).toEqual({
          statusCode: 500,
          error: 'Internal Server Error',
          message: 'Internal Server Error',
        })
      },
      { onError: (err) => errors.push(err) }
    )
    expect(errors.map((e) => e.message)).toEqual(['late boom'])
  })

  it('should compress a large error body like any other', async () => {
    const message = text(3000)
    await withServer(
      compression(),
      () => {
        throw new HttpError(422, message, { expose: true })
      },
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.status).toBe(422)
        expect(res.headers['content-encoding']).toBe('gzip')
        expect(decode(res)).toBe(`${message}\n`)
      },
      { onError: () => {} }
    )
  })

  it('should cut the connection when the handler fails after the body started', async () => {
    const errors: Error[] = []
    await withServer(
      compression(),
      async (_req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        res.write(BODY)
        await new Promise((r) => setTimeout(r, 5))
        throw new Error('mid-stream')
      },
      async (server) => {
        await expect(get(server, 'gzip')).rejects.toThrow()
      },
      { onError: (err) => errors.push(err) }
    )
    expect(errors.map((e) => e.message)).toEqual(['mid-stream'])
  })

  it('should render a 500 when the filter throws, uncompressed', async () => {
    const errors: Error[] = []
    const filter = () => {
      throw new Error('bad filter')
    }
    await withServer(
      compression({ filter }),
      sending(BODY),
      async (server) => {
        const res = await get(server, 'gzip')
        expect(res.status).toBe(500)
        expect(res.headers['content-encoding']).toBeUndefined()
        expect(res.raw.toString()).toBe('Internal Server Error\n')
      },
      { onError: (err) => errors.push(err) }
    )
    expect(errors.map((e) => e.message)).toEqual(['bad filter'])
  })
})

describe('compression: write and end', () => {
  for (const coding of ['gzip', undefined]) {
    it(`should call the callbacks of write and end (${coding ?? 'identity'})`, async () => {
      const called: string[] = []
      await withServer(
        compression(),
        async (_req, res) => {
          res.setHeader('Content-Type', 'text/plain')
          for (let i = 0; i < 20; i++) {
            await new Promise<void>((resolve) => res.write(text(1000), () => resolve()))
          }
          called.push('writes')
          await new Promise<void>((resolve) => res.write('x', 'utf8', () => resolve()))
          called.push('write with encoding')
          const returned = res.end(() => called.push('end'))
          expect(returned).toBe(res)
        },
        async (server) => {
          const res = await get(server, coding)
          expect(res.headers['content-encoding']).toBe(coding)
          expect(decode(res)).toBe(`${text(1000).repeat(20)}x`)
        }
      )
      await new Promise((r) => setImmediate(r))
      expect(called).toEqual(['writes', 'write with encoding', 'end'])
    }, 5000)
  }

  it('should call end(chunk, cb) and end(chunk, encoding, cb) callbacks', async () => {
    const called: string[] = []
    await withServer(
      compression(),
      (req, res) => {
        res.setHeader('Content-Type', 'text/plain')
        if (req.url === '/a') res.end(BODY, () => called.push('a'))
        else res.end(Buffer.from(BODY).toString('hex'), 'hex', () => called.push('b'))
      },
      async (server) => {
        expect(decode(await get(server, 'gzip', { path: '/a' }))).toBe(BODY)
        expect(decode(await get(server, 'br', { path: '/b' }))).toBe(BODY)
      }
    )
    await new Promise((r) => setImmediate(r))
    expect(called.sort()).toEqual(['a', 'b'])
  }, 5000)
})

describe('compression: statuses', () => {
  it('should compress an error status the application sets itself', async () => {
    await withServer(
      compression(),
      (_req, res) => {
        res.statusCode = 404
        res.setHeader('Content-Type', 'text/plain')
        res.end(BODY)
      },
      async (server) => {
        const res = await send(server, { headers: { 'accept-encoding': 'gzip' } })
        expect(res.status).toBe(404)
        expect(res.headers['content-encoding']).toBe('gzip')
        expect(decode(res)).toBe(BODY)
      }
    )
  })
})
