/**
 * The client side: one request per new connection (no agent, no pooling), over http or https
 * (trusting the test's own certificate, checked for "localhost"), from a chosen local address
 * (Linux routes all of 127.0.0.0/8 to loopback, so a client from 127.0.0.2 is told apart from
 * nginx, which reaches the application from 127.0.0.1). Every wait is bounded.
 */
import { readFileSync } from 'node:fs'
import http, { type IncomingHttpHeaders } from 'node:http'
import https from 'node:https'

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export interface RequestOptions {
  /** `http` (default) or `https`. */
  scheme?: 'http' | 'https'
  /** The address the request leaves from (default: the system's choice, 127.0.0.1). */
  localAddress?: string
  headers?: Record<string, string>
  /** The PEM certificate to trust, for https. */
  ca?: string
  ms?: number
}

/** One GET on a new connection to 127.0.0.1:port; rejects on error or after `ms`. */
export function get(port: number, path: string, options: RequestOptions = {}): Promise<Reply> {
  const { scheme = 'http', localAddress, headers = {}, ca, ms = 10_000 } = options
  return new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      port,
      path,
      headers: { host: 'localhost', ...headers },
      agent: false as const,
      timeout: ms,
      ...(localAddress === undefined ? {} : { localAddress }),
    }
    const onResponse = (res: http.IncomingMessage) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    }
    const req =
      scheme === 'https'
        ? https.request(
            {
              ...common,
              servername: 'localhost',
              ...(ca === undefined ? {} : { ca: readFileSync(ca) }),
            },
            onResponse
          )
        : http.request(common, onResponse)
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no response within ${ms} ms`)))
    req.on('error', reject)
    req.end()
  })
}

/** The `Set-Cookie` header of the session (`sid=...`), or undefined. */
export function sessionCookie(reply: Reply): string | undefined {
  return reply.headers['set-cookie']?.find((c) => c.startsWith('sid='))
}

/** `sid=<value>` to send back, from a `Set-Cookie` header. */
export function cookiePair(setCookie: string): string {
  return setCookie.split(';')[0] as string
}

/**
 * The sum of every sample named `name` (all label sets) in a Prometheus text exposition.
 * Throws when there is none, so that a renamed metric cannot make a sum of 0 pass.
 */
export function sumOf(exposition: string, name: string): number {
  let found = false
  let sum = 0
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    found = true
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  if (!found) throw new Error(`no ${name} in the exposition:\n${exposition.slice(0, 2000)}`)
  return sum
}
