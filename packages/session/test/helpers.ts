import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Handler, type Layer, type StackOptions, stack } from '@shallot/stack'
import { type Listening, listen, type RawResponse, rawRequest } from '@shallot/test-utils'
import { getSession } from '../src/index.js'

export const SECRET = 'a-test-secret-that-is-long-enough-0001'
export const OLD_SECRET = 'an-older-secret-that-is-long-enough-02'

/** stack() options that keep expected errors out of the test output, and collect them. */
export function collectErrors(): { errors: Error[]; options: StackOptions } {
  const errors: Error[] = []
  return { errors, options: { onError: (err) => errors.push(err) } }
}

/**
 * The app the tests serve: a visit counter on `/`, plus routes that exercise the session API:
 * `/get?k=`, `/set?k=&v=` (JSON value), `/delete?k=`, `/clear`, `/regenerate`, `/destroy`,
 * `/touch`, `/save`. Answers with the session as JSON.
 */
export const app: Handler = async (req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? '/', 'http://x')
  const s = getSession(req)
  const k = url.searchParams.get('k') ?? 'k'
  switch (url.pathname) {
    case '/':
      s.set('views', ((s.get('views') as number | undefined) ?? 0) + 1)
      break
    case '/read':
      break
    case '/set':
      s.set(k, JSON.parse(url.searchParams.get('v') ?? 'null'))
      break
    case '/delete':
      s.delete(k)
      break
    case '/clear':
      s.clear()
      break
    case '/regenerate':
      s.regenerate()
      break
    case '/destroy':
      s.destroy()
      break
    case '/touch':
      s.touch()
      break
    case '/save':
      await s.save()
      break
    default:
      res.statusCode = 404
  }
  const data: Record<string, unknown> = {}
  for (const key of s.keys()) data[key] = s.get(key)
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ id: s.id, isNew: s.isNew, data }))
}

export interface Body {
  id: string
  isNew: boolean
  data: Record<string, unknown>
}

/** Serves `stack(options, ...layers)(handler)`, runs `fn`, always closes. */
export async function withServer(
  layers: Layer | Layer[],
  fn: (server: Listening) => Promise<void>,
  handler: Handler = app,
  options: StackOptions = { onError: () => {} }
): Promise<void> {
  const server = await listen(
    stack(options, ...(Array.isArray(layers) ? layers : [layers]))(handler)
  )
  try {
    await fn(server)
  } finally {
    await server.close()
  }
}

/** The Set-Cookie lines of a response. */
export function setCookies(res: RawResponse): string[] {
  const raw = res.headers['set-cookie']
  return raw === undefined ? [] : raw
}

/** `name=value` of the one Set-Cookie line for `name` (fails the test when there are several). */
export function cookieOf(res: RawResponse, name = 'sid'): string | undefined {
  const lines = setCookies(res).filter((l) => l.startsWith(`${name}=`))
  if (lines.length > 1)
    throw new Error(`several Set-Cookie lines for ${name}: ${lines.join(' | ')}`)
  return lines[0]?.split(';')[0]
}

/** A tiny browser: keeps the session cookie between requests. */
export class Client {
  cookie: string | undefined
  constructor(
    readonly url: string,
    readonly name = 'sid'
  ) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
    const res = await rawRequest(this.url, {
      path,
      headers: this.cookie === undefined ? headers : { cookie: this.cookie, ...headers },
    })
    const line = setCookies(res).find((l) => l.startsWith(`${this.name}=`))
    if (line !== undefined) {
      const pair = line.split(';')[0] as string
      this.cookie = /Max-Age=0\b/i.test(line) ? undefined : pair
    }
    return res
  }

  async json(path: string, headers: Record<string, string> = {}): Promise<Body> {
    const res = await this.get(path, headers)
    if (res.status !== 200) throw new Error(`${path}: status ${res.status}: ${res.body}`)
    return JSON.parse(res.body) as Body
  }
}

export const json = (res: RawResponse): Body => JSON.parse(res.body) as Body
