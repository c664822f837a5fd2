import type { RequestListener } from 'node:http'
import { listen, type RawRequestOptions, type RawResponse, rawRequest } from '@shallot/test-utils'

/** Serves `app` on a real socket for one request and returns the whole response. */
export async function once(
  app: RequestListener,
  options: RawRequestOptions = {}
): Promise<RawResponse> {
  const server = await listen(app)
  try {
    return await rawRequest(server.url, options)
  } finally {
    await server.close()
  }
}

/** stack() options that keep expected 5xx errors out of the test output. */
export const quiet = { onError: (): void => {} }
