import type { ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { getBasePath, getPath, type Handler, HttpError } from '@shallot/stack'
import { getTiming } from '@shallot/timing'

/** The longest wait `/api/slow` accepts, well under the server's 10 s shutdown timeout. */
const MAX_SLOW_MS = 5000

/**
 * The demo API, mounted at `/api` by app.ts: inside the mount, `getPath(req)` is the part
 * after the prefix (`/test`) and `getBasePath(req)` the prefix itself (`/api`).
 * A handler, not a middleware: it ends the chain, and unknown paths are a 404.
 * The auth layer in app.ts lets a request in only with a valid `X-API-Key`.
 *
 * `getTiming(req)` marks show up in `Server-Timing` next to `total` and the layers:
 * `work;dur=0.012;desc="build the answer"`.
 */
export const api: Handler = async function api(req, res) {
  const path = getPath(req)
  const fullPath = getBasePath(req) + path
  switch (path) {
    case '/test': {
      const body = getTiming(req).measure(
        'work',
        () => ({ message: 'Hello from the Shallot demo', method: req.method, path: fullPath }),
        'build the answer'
      )
      sendJson(res, 200, body)
      return
    }
    case '/slow': {
      // Answers after `ms` milliseconds: lets you watch a graceful shutdown finish it.
      const ms = Number(new URL(req.url ?? '/', 'http://localhost').searchParams.get('ms') ?? 1000)
      if (!Number.isInteger(ms) || ms < 0 || ms > MAX_SLOW_MS) {
        throw new HttpError(400, `ms must be an integer from 0 to ${MAX_SLOW_MS}`)
      }
      await getTiming(req).measure('wait', () => sleep(ms), `waiting ${ms} ms`)
      sendJson(res, 200, { message: `Answered after ${ms} ms`, method: req.method, path: fullPath })
      return
    }
    default:
      // Rendered by the stack's error boundary, as JSON or text by the Accept header.
      throw new HttpError(404, `Cannot ${req.method} ${fullPath}`)
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(json))
  res.end(json)
}
