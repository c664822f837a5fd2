/**
 * The one handler body every scenario serves, so that only the layers around it differ:
 * a fixed 5-byte text response with a content type, written implicitly by `res.end`.
 *
 * @param {import('node:http').IncomingMessage} _req
 * @param {import('node:http').ServerResponse} res
 */
export function handler(_req, res) {
  res.setHeader('content-type', 'text/plain; charset=utf-8')
  res.end('hello')
}
