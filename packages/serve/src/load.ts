import type { RequestListener } from 'node:http'
import { relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { errorText, ServeError } from './errors.js'
import { describe } from './options.js'

/** The exports looked at, in this order. */
export const HANDLER_EXPORTS: readonly string[] = ['default', 'handler', 'app']

/**
 * @internal The file: URL of the application module: a `URL`, a `file:` URL string, or a path
 * resolved against `cwd`.
 */
export function moduleUrl(spec: string | URL, cwd: string = process.cwd()): string {
  if (spec instanceof URL) {
    if (spec.protocol !== 'file:') {
      throw new TypeError(
        `[@shallot/serve] serve(app): a module URL must be a file: URL, got ${describe(spec.href)}`
      )
    }
    return spec.href
  }
  if (spec === '') throw new TypeError('[@shallot/serve] serve(app): the module path is empty')
  if (spec.startsWith('file:')) return new URL(spec).href
  return pathToFileURL(resolve(cwd, spec)).href
}

/** @internal The module as it reads in a log line: relative to the working directory if inside it. */
export function displayModule(url: string): string {
  const path = fileURLToPath(url)
  const rel = relative(process.cwd(), path)
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) ? `./${rel}` : path
}

function isFunction(value: unknown): value is RequestListener {
  return typeof value === 'function'
}

function hint(value: unknown): string {
  if (typeof value !== 'object' || value === null) return ''
  const v = value as Record<string, unknown>
  if (typeof v.callback === 'function') return ' (a Koa app? export app.callback())'
  if (typeof v.fetch === 'function') {
    return ' (a fetch-style app, such as Hono? wrap app.fetch in a Node request listener, e.g. getRequestListener from @hono/node-server)'
  }
  if (typeof v.routing === 'function' && typeof v.ready === 'function') {
    return ' (a Fastify instance? export fastify.routing after await fastify.ready())'
  }
  return ''
}

/**
 * @internal The request handler a module exports: the default export, else the named export
 * `handler`, else `app`, the first that is a function. A CommonJS module's `module.exports`
 * is its default export; `exports.default` of transpiled code is looked into as well.
 */
export function pickHandler(mod: Record<string, unknown>, where: string): RequestListener {
  for (const name of HANDLER_EXPORTS) {
    const value = mod[name]
    if (isFunction(value)) return value
  }
  const cjs = mod.default
  if (typeof cjs === 'object' && cjs !== null) {
    for (const name of HANDLER_EXPORTS) {
      const value = (cjs as Record<string, unknown>)[name]
      if (isFunction(value)) return value
    }
  }
  const found = Object.keys(mod).filter((k) => k !== '__esModule')
  const shape = HANDLER_EXPORTS.map((name) => hint(mod[name])).find((h) => h !== '') ?? ''
  throw new ServeError(
    'ERR_SERVE_LOAD',
    `${where} exports no request handler: expected a function (req, res) as its default export or as a named export "handler" or "app"${shape}; it exports ${
      found.length === 0 ? 'nothing' : found.map((k) => `"${k}"`).join(', ')
    }`
  )
}

/**
 * @internal Imports the application module and picks its handler. Rejects with a ServeError
 * (`ERR_SERVE_LOAD`) whose message carries the module's own error and stack.
 */
export async function loadHandler(url: string): Promise<RequestListener> {
  const where = displayModule(url)
  let mod: Record<string, unknown>
  try {
    mod = (await import(url)) as Record<string, unknown>
  } catch (err) {
    throw new ServeError('ERR_SERVE_LOAD', `could not load ${where}: ${errorText(err)}`, {
      cause: err,
    })
  }
  return pickHandler(mod, where)
}
