import { listen, rawRequest } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { getClient, type Handler, stack, type TrustProxyOptions, trustProxy } from '../src/index.js'

const report: Handler = (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify(getClient(req)))
}

async function clientFor(options: TrustProxyOptions | undefined, headers: Record<string, string>) {
  const app = options === undefined ? stack((n) => n)(report) : stack(trustProxy(options))(report)
  const server = await listen(app)
  try {
    const res = await rawRequest(server.url, { headers: { host: 'internal:3000', ...headers } })
    return JSON.parse(res.body) as Record<string, unknown>
  } finally {
    await server.close()
  }
}

const spoof = {
  'x-forwarded-for': '6.6.6.6, 203.0.113.9',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'shop.example',
}

describe('trustProxy / getClient', () => {
  it('should believe nothing forwarded without a trustProxy layer', async () => {
    expect(await clientFor(undefined, spoof)).toEqual({
      ip: '127.0.0.1',
      protocol: 'http',
      secure: false,
      host: 'internal:3000',
      hops: 0,
    })
  })

  it('should believe nothing when the peer is not trusted', async () => {
    expect(await clientFor({ trust: ['10.0.0.0/8'] }, spoof)).toMatchObject({
      ip: '127.0.0.1',
      hops: 0,
    })
  })

  it('should stop at the first untrusted hop (one trusted proxy)', async () => {
    expect(await clientFor({ trust: 'loopback' }, spoof)).toEqual({
      ip: '203.0.113.9',
      protocol: 'https',
      secure: true,
      host: 'shop.example',
      hops: 1,
    })
    expect(await clientFor({ trust: 1 }, spoof)).toMatchObject({ ip: '203.0.113.9', hops: 1 })
  })

  it('should walk further through trusted hops only', async () => {
    expect(await clientFor({ trust: ['loopback', '203.0.113.0/24'] }, spoof)).toMatchObject({
      ip: '6.6.6.6',
      hops: 2,
    })
    expect(await clientFor({ trust: 2 }, spoof)).toMatchObject({ ip: '6.6.6.6', hops: 2 })
    expect(await clientFor({ trust: (_a, hop) => hop === 0 }, spoof)).toMatchObject({
      ip: '203.0.113.9',
    })
  })

  it('should ignore an invalid protocol, host or address', async () => {
    expect(
      await clientFor(
        { trust: 'loopback' },
        { 'x-forwarded-for': 'not-an-ip', 'x-forwarded-proto': 'gopher', 'x-forwarded-host': 'a b' }
      )
    ).toMatchObject({ ip: '127.0.0.1', protocol: 'http', host: 'internal:3000' })
  })

  it('should read RFC 7239 Forwarded when told to, and only then', async () => {
    const forwarded = {
      forwarded: 'for=6.6.6.6, for="[2001:db8::17]:4711";proto=https;host="api.example"',
    }
    expect(await clientFor({ trust: 'loopback', header: 'forwarded' }, forwarded)).toEqual({
      ip: '2001:db8::17',
      protocol: 'https',
      secure: true,
      host: 'api.example',
      hops: 1,
    })
    expect(await clientFor({ trust: 'loopback' }, forwarded)).toMatchObject({
      ip: '127.0.0.1',
      hops: 0,
    })
  })

  it('should name the bad option at start-up', () => {
    expect(() => trustProxy({ trust: ['10.0.0.0/33'] })).toThrow(
      /option "trust" has "10.0.0.0\/33"/
    )
    expect(() => trustProxy({ trust: ['nope'] })).toThrow(/option "trust"/)
    expect(() => trustProxy({ trust: -1 })).toThrow(/non-negative integer/)
    expect(() => trustProxy({ trust: 1, header: 'x-real-ip' as never })).toThrow(/option "header"/)
    expect(() => trustProxy(undefined as never)).toThrow(/options must be an object/)
  })
})
