import type { Listening } from '@shallot/test-utils'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CorsRefusalReason, cors } from '../src/index.js'
import { corsHeaders, counting, send, serve } from './helpers.js'

failOnUnhandledRejections()

type Row = [origin: string, allowed: boolean, reason?: CorsRefusalReason]

const ALLOWLIST = [
  'https://example.com',
  'http://localhost:3000',
  'https://*.example.org',
  'https://app.example.net:8443',
  'http://*.localhost:5173',
]

// Each row: the Origin header as sent, whether it is allowed, and the reason when refused.
const ROWS: Row[] = [
  // exact origin
  ['https://example.com', true],
  ['http://example.com', false, 'origin-not-allowed'], // scheme
  ['https://example.com:8443', false, 'origin-not-allowed'], // port
  ['https://example.com:443', false, 'invalid-origin'], // default port: never sent by a browser
  ['https://EXAMPLE.com', false, 'invalid-origin'], // case: never sent by a browser
  ['HTTPS://example.com', false, 'invalid-origin'],
  ['https://example.com/', false, 'invalid-origin'], // trailing slash
  ['https://example.com/path', false, 'invalid-origin'],
  ['https://user@example.com', false, 'invalid-origin'],
  ['https://example.com, https://evil.net', false, 'invalid-origin'], // two origins joined
  ['example.com', false, 'invalid-origin'],
  ['', false, 'invalid-origin'],
  // look-alikes
  ['https://example.com.evil.net', false, 'origin-not-allowed'],
  ['https://evil-example.com', false, 'origin-not-allowed'],
  ['https://evilexample.com', false, 'origin-not-allowed'],
  ['https://sub.example.com', false, 'origin-not-allowed'], // no wildcard for example.com
  // null
  ['null', false, 'null-origin'],
  ['NULL', false, 'invalid-origin'],
  // ports
  ['http://localhost:3000', true],
  ['http://localhost', false, 'origin-not-allowed'],
  ['http://localhost:3001', false, 'origin-not-allowed'],
  ['http://127.0.0.1:3000', false, 'origin-not-allowed'],
  ['https://app.example.net:8443', true],
  ['https://app.example.net', false, 'origin-not-allowed'],
  // wildcard labels: one or more, never the apex, same scheme and port
  ['https://a.example.org', true],
  ['https://a.b.example.org', true],
  ['https://xn--bcher-kva.example.org', true],
  ['https://example.org', false, 'origin-not-allowed'],
  ['http://a.example.org', false, 'origin-not-allowed'],
  ['https://a.example.org:444', false, 'origin-not-allowed'],
  ['https://a.example.org.evil.net', false, 'origin-not-allowed'],
  ['https://evilexample.org', false, 'origin-not-allowed'],
  ['https://evil-example.org', false, 'origin-not-allowed'],
  ['https://.example.org', false, 'origin-not-allowed'], // an empty label: a valid URL host, never a match,
  ['https://a..example.org', false, 'origin-not-allowed'],
  ['https://A.example.org', false, 'invalid-origin'],
  ['https://a.example.org/', false, 'invalid-origin'],
  ['http://app.localhost:5173', true],
  ['http://app.localhost', false, 'origin-not-allowed'],
]

describe('cors: origin matching (table)', () => {
  let server: Listening
  const refusals: [CorsRefusalReason, string][] = []
  beforeAll(async () => {
    server = await serve(
      cors({ origin: ALLOWLIST, onRefused: (reason, origin) => refusals.push([reason, origin]) }),
      counting()
    )
  })
  afterAll(() => server.close())

  it.each(ROWS)('%j allowed: %s (%s)', async (origin, allowed, reason) => {
    refusals.length = 0
    const res = await send(server, { origin })
    expect(res.status).toBe(200)
    expect(res.headers.vary).toBe('Origin')
    if (allowed) {
      expect(res.headers['access-control-allow-origin']).toBe(origin)
      expect(refusals).toEqual([])
    } else {
      expect(corsHeaders(res)).toEqual([])
      expect(refusals).toEqual([[reason, origin]])
    }
  })

  it('should run the same decision for preflights', async () => {
    for (const [origin, allowed] of ROWS) {
      const res = await send(server, { origin, 'access-control-request-method': 'PUT' }, 'OPTIONS')
      expect(res.status).toBe(204)
      expect(res.headers['access-control-allow-origin']).toBe(allowed ? origin : undefined)
      expect(res.headers['access-control-allow-methods'] !== undefined).toBe(allowed)
    }
  })
})

describe('cors: configured origins are normalised at start-up', () => {
  it('should lower-case scheme and host, drop default ports and punycode host names', async () => {
    const server = await serve(
      cors({ origin: ['HTTPS://Example.COM:443', 'http://[::1]:80', 'https://bücher.example'] }),
      counting()
    )
    try {
      for (const origin of [
        'https://example.com',
        'http://[::1]',
        'https://xn--bcher-kva.example',
      ]) {
        const res = await send(server, { origin })
        expect(res.headers['access-control-allow-origin']).toBe(origin)
      }
      const res = await send(server, { origin: 'https://example.com:443' })
      expect(res.headers['access-control-allow-origin']).toBeUndefined()
    } finally {
      await server.close()
    }
  })

  it('should accept a single origin string and non-http schemes', async () => {
    const server = await serve(cors({ origin: 'capacitor://localhost' }), counting())
    try {
      const ok = await send(server, { origin: 'capacitor://localhost' })
      expect(ok.headers['access-control-allow-origin']).toBe('capacitor://localhost')
      const no = await send(server, { origin: 'https://localhost' })
      expect(no.headers['access-control-allow-origin']).toBeUndefined()
      expect(no.headers.vary).toBe('Origin')
    } finally {
      await server.close()
    }
  })

  it('should refuse two Origin headers (joined by Node into one invalid value)', async () => {
    const server = await serve(cors({ origin: ['https://a.example'] }), counting())
    try {
      const res = await send(server, { origin: ['https://a.example', 'https://a.example'] })
      expect(res.headers['access-control-allow-origin']).toBeUndefined()
    } finally {
      await server.close()
    }
  })
})

describe('cors: the null origin', () => {
  it('should never allow null unless allowNullOrigin is set', async () => {
    for (const origin of [
      ['https://a.example'],
      /^null$/,
      (o: string) => o === 'null',
      () => true,
    ] as const) {
      const server = await serve(cors({ origin }), counting())
      try {
        const res = await send(server, { origin: 'null' })
        expect(res.headers['access-control-allow-origin']).toBeUndefined()
      } finally {
        await server.close()
      }
    }
  })

  it('should answer "null" when allowNullOrigin is set', async () => {
    const server = await serve(
      cors({ origin: ['https://a.example'], allowNullOrigin: true }),
      counting()
    )
    try {
      const res = await send(server, { origin: 'null' })
      expect(res.headers['access-control-allow-origin']).toBe('null')
      expect(res.headers.vary).toBe('Origin')
      const pre = await send(
        server,
        { origin: 'null', 'access-control-request-method': 'PUT' },
        'OPTIONS'
      )
      expect(pre.headers['access-control-allow-origin']).toBe('null')
    } finally {
      await server.close()
    }
  })

  it("should answer * to null with origin '*' (a public resource), without Vary", async () => {
    const server = await serve(cors(), counting())
    try {
      const res = await send(server, { origin: 'null' })
      expect(res.headers['access-control-allow-origin']).toBe('*')
      expect(res.headers.vary).toBeUndefined()
    } finally {
      await server.close()
    }
  })
})

describe('cors: RegExp origins', () => {
  it('should test the whole origin, and survive g/y flags', async () => {
    const server = await serve(
      cors({ origin: [/^https:\/\/([a-z0-9-]+\.)*example\.com$/g] }),
      counting()
    )
    try {
      for (let i = 0; i < 3; i++) {
        const res = await send(server, { origin: 'https://a.example.com' })
        expect(res.headers['access-control-allow-origin']).toBe('https://a.example.com')
      }
      const evil = await send(server, { origin: 'https://example.com.evil.net' })
      expect(evil.headers['access-control-allow-origin']).toBeUndefined()
    } finally {
      await server.close()
    }
  })

  it('should only see canonical origins', async () => {
    const server = await serve(cors({ origin: /example\.com/ }), counting())
    try {
      const res = await send(server, { origin: 'https://example.com/' })
      expect(res.headers['access-control-allow-origin']).toBeUndefined()
    } finally {
      await server.close()
    }
  })
})

describe('cors: function origins', () => {
  it('should allow on true or on the origin itself, refuse anything else', async () => {
    const seen: string[] = []
    const server = await serve(
      cors({
        origin: (origin, req) => {
          seen.push(origin)
          if (req.url === '/true') return true
          if (req.url === '/echo') return origin
          if (req.url === '/other') return 'https://other.example'
          return false
        },
      }),
      counting()
    )
    try {
      const origin = 'https://a.example'
      const get = async (path: string) =>
        (await send(server, { origin }, 'GET', path)).headers['access-control-allow-origin']
      expect(await get('/true')).toBe(origin)
      expect(await get('/echo')).toBe(origin)
      expect(await get('/other')).toBeUndefined()
      expect(await get('/false')).toBeUndefined()
      expect(seen).toEqual([origin, origin, origin, origin])
      // never called for null or a malformed origin
      await send(server, { origin: 'null' }, 'GET', '/true')
      await send(server, { origin: 'https://A.example' }, 'GET', '/true')
      expect(seen).toHaveLength(4)
    } finally {
      await server.close()
    }
  })

  it('should await an async function, for actual requests and preflights', async () => {
    const handler = counting()
    const server = await serve(
      cors({
        origin: async (origin) => {
          await new Promise((r) => setTimeout(r, 5))
          return origin.endsWith('.trusted.example')
        },
      }),
      handler
    )
    try {
      const ok = await send(server, { origin: 'https://a.trusted.example' })
      expect(ok.headers['access-control-allow-origin']).toBe('https://a.trusted.example')
      const pre = await send(
        server,
        { origin: 'https://a.trusted.example', 'access-control-request-method': 'PUT' },
        'OPTIONS'
      )
      expect(pre.status).toBe(204)
      expect(pre.headers['access-control-allow-origin']).toBe('https://a.trusted.example')
      const no = await send(server, { origin: 'https://evil.example' })
      expect(no.headers['access-control-allow-origin']).toBeUndefined()
      expect(handler.calls).toBe(2)
    } finally {
      await server.close()
    }
  })

  it('should send a throwing or rejecting function to the error boundary (500)', async () => {
    const errors: string[] = []
    const { stack } = await import('@shallot/stack')
    const { listen } = await import('@shallot/test-utils')
    for (const origin of [
      () => {
        throw new Error('db down')
      },
      () => Promise.reject(new Error('db down')),
    ]) {
      const server = await listen(
        stack({ onError: (e) => errors.push(e.message) }, cors({ origin }))(counting())
      )
      try {
        const res = await send(server, { origin: 'https://a.example' })
        expect(res.status).toBe(500)
        expect(res.body).not.toContain('db down')
      } finally {
        await server.close()
      }
    }
    expect(errors).toEqual(['db down', 'db down'])
  })
})
