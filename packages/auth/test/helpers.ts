import { type Handler, type Middleware, type StackOptions, stack } from '@shallot/stack'
import { type Listening, listen } from '@shallot/test-utils'
import { getAuthScheme, getPrincipal } from '../src/index.js'

/** The app behind the auth layer: echoes what auth decided, as JSON. */
export const echo: Handler = (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(
    JSON.stringify({
      principal: getPrincipal(req) ?? null,
      scheme: getAuthScheme(req) ?? null,
      url: req.url,
    })
  )
}

/** Serves `stack(...layers)(app)`, runs `fn`, always closes. */
export async function withServer(
  layers: Middleware | Middleware[],
  fn: (server: Listening) => Promise<void>,
  app: Handler = echo,
  options: StackOptions = { onError: () => {} }
): Promise<void> {
  const server = await listen(stack(options, ...(Array.isArray(layers) ? layers : [layers]))(app))
  try {
    await fn(server)
  } finally {
    await server.close()
  }
}

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')
export const basicHeader = (user: string, pass: string): string => `Basic ${b64(`${user}:${pass}`)}`
