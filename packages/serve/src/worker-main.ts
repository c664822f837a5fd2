/**
 * The program of the workers that serve() forks for a module (`shallot-serve ./app.js`,
 * `serve(new URL('./app.js', import.meta.url), { workers })`): imports the module, serves its
 * handler, and reports to the primary. Not a public entry point.
 */
import { errorText, ServeError } from './errors.js'
import { loadHandler } from './load.js'
import { stderrLog } from './options.js'
import { claimWorkerConfig, WorkerRuntime } from './worker.js'

const config = claimWorkerConfig('entry')
if (config?.module === undefined) {
  stderrLog('worker-main.js is the program of the workers serve() starts: run shallot-serve')
  process.exit(1)
}
const runtime = new WorkerRuntime(config, (line) =>
  stderrLog(`worker ${config.slot} (pid ${process.pid}): ${line}`)
)
loadHandler(config.module).then(
  (handler) => runtime.start(handler),
  (err: unknown) =>
    runtime.failLoad(
      err instanceof ServeError ? err : new ServeError('ERR_SERVE_LOAD', errorText(err))
    )
)
