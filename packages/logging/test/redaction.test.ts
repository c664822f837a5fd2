import { failOnUnhandledRejections } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { type LoggingOptions, logging } from '../src/index.js'
import { collector, get, hasControl, MemoryStream, serving, until } from './helpers.js'

failOnUnhandledRejections()

async function lineFor(
  options: LoggingOptions,
  path: string,
  headers: Record<string, string | string[]> = {}
): Promise<string> {
  const c = collector()
  await serving(
    logging({ sink: c.sink, ...options }),
    (_req, res) => {
      res.setHeader('Set-Cookie', ['sid=s3cr3t; HttpOnly', 'theme=dark'])
      res.setHeader('Location', '/next?code=abc&state=xyz')
      res.end()
    },
    async (server) => {
      await get(server, path, headers)
      await until(() => c.lines.length === 1)
    }
  )
  return c.lines[0] as string
}

describe('logging: query redaction', () => {
  const cases: [string, string][] = [
    ['/a?token=t1', '/a?token=[REDACTED]'],
    ['/a?x=1&access_token=t&y=2', '/a?x=1&access_token=[REDACTED]&y=2'],
    [
      '/a?API_KEY=k&apikey=k&api-key=k',
      '/a?API_KEY=[REDACTED]&apikey=[REDACTED]&api-key=[REDACTED]',
    ],
    [
      '/a?password=p&passwd=p&pwd=p&pass=p',
      '/a?password=[REDACTED]&passwd=[REDACTED]&pwd=[REDACTED]&pass=[REDACTED]',
    ],
    ['/cb?code=c&state=s', '/cb?code=[REDACTED]&state=s'],
    [
      '/a?sig=s&signature=s&secret=s&key=k',
      '/a?sig=[REDACTED]&signature=[REDACTED]&secret=[REDACTED]&key=[REDACTED]',
    ],
    [
      '/s3?X-Amz-Credential=c&X-Amz-Signature=s&X-Amz-Security-Token=t&X-Amz-Date=d',
      '/s3?X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&X-Amz-Security-Token=[REDACTED]&X-Amz-Date=d',
    ],
    [
      '/a?csrf_token=c&client_secret=s&id_token=i&refresh_token=r',
      '/a?csrf_token=[REDACTED]&client_secret=[REDACTED]&id_token=[REDACTED]&refresh_token=[REDACTED]',
    ],
    ['/a?user[password]=p&user[name]=n', '/a?user[password]=[REDACTED]&user[name]=n'],
    ['/a?%74oken=t&tok%65n=t', '/a?%74oken=[REDACTED]&tok%65n=[REDACTED]'],
    ['/a?token=a&token=b', '/a?token=[REDACTED]&token=[REDACTED]'],
    ['/a?token=&token', '/a?token=&token'],
    ['/a?monkey=banana&keyboard=1&page=2', '/a?monkey=banana&keyboard=1&page=2'],
    ['/a?q=token%3Dabc', '/a?q=token%3Dabc'],
    ['/a?&&token=t&', '/a?&&token=[REDACTED]&'],
    ['/a?x=%ZZ&token=t', '/a?x=%ZZ&token=[REDACTED]'],
    ['/no-query', '/no-query'],
  ]
  for (const [url, logged] of cases) {
    it(`should log ${url} as ${logged}`, async () => {
      expect(await lineFor({ format: ':url' }, url)).toBe(logged)
    })
  }

  it('should redact the query of the referrer', async () => {
    expect(
      await lineFor({ format: ':referrer' }, '/', {
        referer: 'https://idp.example/cb?code=abc&x=1',
      })
    ).toBe('https://idp.example/cb?code=[REDACTED]&x=1')
  })

  it('should redact the query of Location', async () => {
    expect(await lineFor({ format: ':res[location]' }, '/')).toBe('/next?code=[REDACTED]&state=xyz')
  })

  it('should redact in json lines too', async () => {
    const sink = new MemoryStream()
    await serving(
      logging({ sink, format: 'json' }),
      (_req, res) => {
        res.end()
      },
      async (server) => {
        await get(server, '/j?token=t', { referer: 'https://r/?password=p' })
        await until(() => sink.lines.length === 1)
      }
    )
    const obj = JSON.parse(sink.lines[0] as string) as Record<string, string>
    expect(obj.url).toBe('/j?token=[REDACTED]')
    expect(obj.referrer).toBe('https://r/?password=[REDACTED]')
    expect(sink.text).not.toMatch(/=t"|=p"/)
  })

  it('should show allowed names and hide added ones', async () => {
    expect(
      await lineFor(
        { format: ':url', allow: { query: ['code', 'csrf_token'] }, redact: { query: ['state'] } },
        '/cb?code=c&state=s&csrf_token=x&token=t'
      )
    ).toBe('/cb?code=c&state=[REDACTED]&csrf_token=x&token=[REDACTED]')
  })
})

describe('logging: header redaction', () => {
  const secrets = {
    authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig',
    'proxy-authorization': 'Basic dXNlcjpwYXNz',
    cookie: 'sid=s3cr3t',
    'x-api-key': 'k-123',
    'x-auth-token': 'tok',
    'x-visible': 'shown',
  }

  it('should print [REDACTED] for credential headers in :req[...] and :res[...]', async () => {
    const line = await lineFor(
      {
        format:
          ':req[authorization] :req[proxy-authorization] :req[cookie] :req[x-api-key] :req[x-auth-token] :req[x-visible] :res[set-cookie] :req[absent]',
      },
      '/',
      secrets
    )
    expect(line).toBe('[REDACTED] [REDACTED] [REDACTED] [REDACTED] [REDACTED] shown [REDACTED] -')
  })

  it('should redact in record.requestHeader() and responseHeader()', async () => {
    const c = collector()
    await serving(
      logging({
        sink: c.sink,
        format: (r) =>
          `${r.requestHeader('Authorization')} ${r.requestHeader('COOKIE')} ${r.responseHeader('set-cookie')} ${r.requestHeader('x-visible')}`,
      }),
      (_req, res) => {
        res.setHeader('Set-Cookie', 'sid=1')
        res.end()
      },
      async (server) => {
        await get(server, '/', secrets)
        await until(() => c.lines.length === 1)
      }
    )
    expect(c.lines[0]).toBe('[REDACTED] [REDACTED] [REDACTED] shown')
  })

  it('should show allowed headers and hide added ones', async () => {
    const line = await lineFor(
      {
        format: ':req[authorization] :req[x-visible] :res[set-cookie]',
        allow: { headers: ['Authorization', 'set-cookie'] },
        redact: { headers: ['X-Visible'] },
      },
      '/',
      secrets
    )
    expect(line).toBe(
      'Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig [REDACTED] sid=s3cr3t; HttpOnly, theme=dark'
    )
  })

  it('should never print the default formats with a credential', async () => {
    for (const format of ['combined', 'common', 'short', 'tiny', 'dev', 'json']) {
      const line = await lineFor({ format }, '/p?token=t0k', secrets)
      for (const secret of ['eyJhbGci', 'dXNlcjpwYXNz', 's3cr3t', 'k-123', 't0k']) {
        expect(line, format).not.toContain(secret)
      }
    }
  })
})

describe('logging: :remote-user (CVE-2026-5078)', () => {
  const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`

  it('should escape a decoded user name that tries to forge a line', async () => {
    // (no colon: basic-auth splits user and password at the first one)
    const forged = 'x\n127.0.0.1 - admin [01/Jan/2026] "GET /admin HTTP/1.1" 200 1'
    const line = await lineFor({ format: 'combined' }, '/', {
      authorization: basic(`${forged}\x1b[2J\u2028"\\:pw`),
    })
    expect(line.split('\n')).toHaveLength(1)
    expect(line).toContain(
      '- x\\n127.0.0.1 - admin [01/Jan/2026] \\"GET /admin HTTP/1.1\\" 200 1\\u001b[2J\\u2028\\"\\\\ ['
    )
    expect(hasControl(line)).toBe(false)
  })

  it('should read the user name as basic-auth does (and nothing for other schemes)', async () => {
    const cases: [string, string][] = [
      [basic('alice:pw'), 'alice'],
      [basic(':pw'), '-'],
      [basic('nocolon'), '-'],
      ['basic  YWxpY2U6cHc=  ', 'alice'],
      ['Bearer abc', '-'],
      ['Basic !!!', '-'],
    ]
    for (const [authorization, user] of cases) {
      expect(await lineFor({ format: ':remote-user' }, '/', { authorization })).toBe(user)
    }
  })
})
