/** Why a server stopped, as the exit code the CLI ends with. */
export type ServeErrorCode = 'ERR_SERVE_LOAD' | 'ERR_SERVE_LISTEN' | 'ERR_SERVE_CRASHING'

/** Exit codes: 0 after a graceful shutdown, 128 + the signal's number when forced. */
export const EXIT_CODES: Readonly<Record<ServeErrorCode | 'ok' | 'usage', number>> = {
  ok: 0,
  /** Workers kept crashing at start: `maxRestarts` was exceeded. */
  ERR_SERVE_CRASHING: 1,
  /** Bad command-line arguments or options (the CLI only; `serve()` throws). */
  usage: 2,
  /** The application module could not be loaded: it threw, or exports no handler. */
  ERR_SERVE_LOAD: 3,
  /** The server could not listen: port in use, permission denied, address not available. */
  ERR_SERVE_LISTEN: 4,
}

/**
 * Why `serve()` could not start or keep serving: what `ready` rejects with. `exitCode` is the
 * code the CLI exits with.
 */
export class ServeError extends Error {
  /** `ERR_SERVE_LOAD`, `ERR_SERVE_LISTEN` or `ERR_SERVE_CRASHING`. */
  readonly code: ServeErrorCode
  /** 3, 4 or 1 (see the README). */
  readonly exitCode: number

  constructor(code: ServeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ServeError'
    this.code = code
    this.exitCode = EXIT_CODES[code]
  }
}

/** The first line of an error's stack (or its message), for one-line log entries. */
export function firstLine(text: string): string {
  const i = text.indexOf('\n')
  return i === -1 ? text : text.slice(0, i)
}

/** An error's stack when there is one, else its text. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`
  return String(err)
}

/** How a listen error reads: `could not listen on 127.0.0.1:8000: EADDRINUSE (the port is in use)`. */
export function listenErrorText(err: unknown, host: string | undefined, port: number): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const where = `${host === undefined ? '' : host.includes(':') ? `[${host}]` : host}:${port}`
  const why: Record<string, string> = {
    EADDRINUSE: 'the port is in use',
    EACCES: 'permission denied (ports below 1024 need privileges)',
    EADDRNOTAVAIL: 'the address is not one of this machine',
    ENOTFOUND: 'the host name does not resolve',
    EAI_AGAIN: 'the host name could not be resolved',
  }
  const detail =
    code === undefined
      ? String((err as Error)?.message ?? err)
      : `${code} (${why[code] ?? (err as Error).message})`
  return `could not listen on ${where}: ${detail}`
}
