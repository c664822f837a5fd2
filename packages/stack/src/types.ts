import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * The application: Node's own request listener, possibly async.
 * Anything `http.createServer(handler)` accepts is a Handler.
 */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

/**
 * A layer of the onion: called once, at start-up, with the inner handler; returns the
 * handler that wraps it. All per-request work happens in the returned handler.
 */
export type Middleware = (next: Handler) => Handler

/** What `stack()` accepts: a middleware, or a falsy value that is skipped. */
export type Layer = Middleware | false | null | undefined | 0 | ''
