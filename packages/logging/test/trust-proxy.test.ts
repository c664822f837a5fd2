import { getClient, type Middleware, stack, trustProxy } from '@shallot/stack'
import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { type LoggingOptions, logging } from '../src/index.js'
import { collector, get, listenLenient, rawExchange, serving, until } from './helpers.js'

failOnUnhandledRejections()

/** The logged address and what the application sees through getClient, for one request. */
async function addresses(
  options: LoggingOptions,
  headers: Record<string, string>,
  outer: Middleware[] = []
): Promise<{ logged: string; app: string }> {
  const c = collector()
  let app = ''
  await serving(
    [...outer, logging({ sink: c.sink, format: ':remote-addr', ...options })],
    (req, res) => {
      app = getClient(req).ip
      res.end()
    },
    async (server) => {
      await get(server, '/', headers)
      await until(() => c.lines.length === 1)
    }
  )
  return { logged: c.lines[0] as string, app }
}

describe('logging: remote address', () => {
  it("should log the socket's address and ignore forwarding headers by default", async () => {
    expect(
      await addresses({}, { 'x-forwarded-for': '203.0.113.7', forwarded: 'for=203.0.113.8' })
    ).toEqual({ logged: '127.0.0.1', app: '127.0.0.1' })
  })

  it('should believe X-Forwarded-For as far as a hop count trusts', async () => {
    const headers = { 'x-forwarded-for': '198.51.100.1, 203.0.113.7' }
    expect((await addresses({ trustProxy: 1 }, headers)).logged).toBe('203.0.113.7')
    expect((await addresses({ trustProxy: 2 }, headers)).logged).toBe('198.51.100.1')
    expect((await addresses({ trustProxy: 0 }, headers)).logged).toBe('127.0.0.1')
  })

  it('should take lists of addresses and CIDR ranges, and functions', async () => {
    const headers = { 'x-forwarded-for': '198.51.100.1, 10.1.2.3' }
    expect((await addresses({ trustProxy: ['loopback', '10.0.0.0/8'] }, headers)).logged).toBe(
      '198.51.100.1'
    )
    expect((await addresses({ trustProxy: ['127.0.0.1'] }, headers)).logged).toBe('10.1.2.3')
    expect((await addresses({ trustProxy: 'loopback, 10.0.0.0/8' }, headers)).logged).toBe(
      '198.51.100.1'
    )
    expect(
      (await addresses({ trustProxy: (address) => address === '127.0.0.1' }, headers)).logged
    ).toBe('10.1.2.3')
  })

  it('should read RFC 7239 Forwarded with header: forwarded', async () => {
    expect(
      (
        await addresses(
          { trustProxy: { trust: 'loopback', header: 'forwarded' } },
          { forwarded: 'for="[2001:db8::1]:4711";proto=https', 'x-forwarded-for': '203.0.113.9' }
        )
      ).logged
    ).toBe('2001:db8::1')
  })

  it('should keep its trustProxy option to the log: inner layers still see the socket', async () => {
    expect(await addresses({ trustProxy: 1 }, { 'x-forwarded-for': '203.0.113.7' })).toEqual({
      logged: '203.0.113.7',
      app: '127.0.0.1',
    })
  })

  it('should honour a trustProxy() layer of the stack placed outside it', async () => {
    expect(
      await addresses({}, { 'x-forwarded-for': '203.0.113.7' }, [trustProxy({ trust: 'loopback' })])
    ).toEqual({ logged: '203.0.113.7', app: '203.0.113.7' })
  })

  it('should log a hostile X-Forwarded-For safely', async () => {
    const cases: [string, string][] = [
      ['not-an-ip', '127.0.0.1'],
      ['203.0.113.7", "evil', '127.0.0.1'],
      ['999.1.1.1', '127.0.0.1'],
      [`${'1.2.3.4, '.repeat(500)}5.6.7.8`, '5.6.7.8'],
    ]
    for (const [xff, logged] of cases) {
      expect((await addresses({ trustProxy: 1 }, { 'x-forwarded-for': xff })).logged).toBe(logged)
    }
  })

  it('should log a forwarded value with control characters safely (lenient parser)', async () => {
    const c = collector()
    const server = await listenLenient(
      stack(
        logging({ sink: c.sink, format: ':remote-addr :req[x-forwarded-for]', trustProxy: true })
      )((_req, res) => {
        res.end()
      })
    )
    try {
      await rawExchange(
        server.port,
        'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\x1b[31m\r\nConnection: close\r\n\r\n'
      )
      await until(() => c.lines.length === 1)
    } finally {
      await server.close()
    }
    expect(c.lines[0]).toBe('127.0.0.1 1.2.3.4\\u001b[31m')
  })

  it('should put the address in json lines and records', async () => {
    const c = collector()
    await serving(
      logging({ sink: c.sink, trustProxy: 1 }),
      (_req, res) => {
        res.end()
      },
      async (server) => {
        await get(server, '/', { 'x-forwarded-for': '203.0.113.7' })
        await until(() => c.records.length === 1)
      }
    )
    expect(c.records[0]?.remoteAddress).toBe('203.0.113.7')
  })
})
