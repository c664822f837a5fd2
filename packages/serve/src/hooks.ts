import { existsSync } from 'node:fs'
import { createRequire, isBuiltin } from 'node:module'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { errorText, firstLine, ServeError } from './errors.js'
import { displayModule } from './load.js'
import type { ResolvedHook } from './options.js'

/** @internal How a primary hook reads in a log line. */
export function hookLabel(hook: ResolvedHook): string {
  switch (hook.kind) {
    case 'function':
      return `function ${hook.fn.name === '' ? '(anonymous)' : hook.fn.name}`
    case 'url':
      return displayModule(hook.url)
    case 'package':
      return hook.specifier
  }
}

/**
 * @internal The URL to import for a package specifier: resolved from `cwd` as
 * `require.resolve` does (Node 20 has no unflagged way to run the ESM resolver from another
 * directory than the caller's).
 */
function resolvePackage(specifier: string, cwd: string): string {
  let resolved: string
  try {
    resolved = createRequire(join(cwd, 'noop.js')).resolve(specifier)
  } catch (err) {
    const hint = existsSync(resolve(cwd, specifier))
      ? ` (to load the file ./${specifier}, write "./${specifier}": a name without ./ is a package)`
      : ''
    throw new ServeError(
      'ERR_SERVE_LOAD',
      `could not load the primary module ${specifier}: cannot resolve it from ${cwd}: ${firstLine(
        (err as Error)?.message ?? String(err)
      )}${hint}`,
      { cause: err }
    )
  }
  return isBuiltin(resolved) ? resolved : pathToFileURL(resolved).href
}

/**
 * @internal Runs one primary hook: calls the function, or imports the module (its top-level
 * code is the hook). Rejects with a ServeError `ERR_SERVE_LOAD` that names the hook and
 * carries its error, stack included.
 */
export async function runHook(hook: ResolvedHook): Promise<void> {
  const label = hookLabel(hook)
  if (hook.kind === 'function') {
    const fn = hook.fn
    try {
      await fn()
    } catch (err) {
      throw new ServeError(
        'ERR_SERVE_LOAD',
        `the primary hook ${label} failed: ${errorText(err)}`,
        {
          cause: err,
        }
      )
    }
    return
  }
  let url: string
  if (hook.kind === 'package') url = resolvePackage(hook.specifier, hook.cwd)
  else {
    url = hook.url
    const path = fileURLToPath(url)
    if (!existsSync(path)) {
      throw new ServeError(
        'ERR_SERVE_LOAD',
        `could not load the primary module ${label}: no such file (${path})`
      )
    }
  }
  try {
    await import(url)
  } catch (err) {
    throw new ServeError(
      'ERR_SERVE_LOAD',
      `could not load the primary module ${label}: ${errorText(err)}`,
      { cause: err }
    )
  }
}
