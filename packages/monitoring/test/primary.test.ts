import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { rawRequest } from '@shallot/test-utils'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type MonitoringStats, setupClusterPrimary } from '../src/index.js'
import { find, parseExposition } from './helpers.js'

/*
 * `@shallot/monitoring/primary`, imported by its package name (through the `exports` map, by
 * self-reference) in a real cluster primary run as a child process: a `node -e` program in
 * this package's directory. Its workers are the ones of test/cluster.test.ts. The build is
 * brought up to date first (tsc -b is incremental).
 */
const PACKAGE = fileURLToPath(new URL('..', import.meta.url))
const WORKER = fileURLToPath(new URL('./fixtures/cluster-worker.mjs', import.meta.url))
const WORKERS = 2
const REQUESTS = 30

/** The primary: imports the subpath first, then forks; one JSON line once every worker listens. */
const PRIMARY = `
import cluster from 'node:cluster'
import { createServer } from 'node:net'
import { stopClusterPrimary } from '@shallot/monitoring/primary'

const port = await new Promise((resolve, reject) => {
  const probe = createServer()
  probe.once('error', reject)
  probe.listen(0, '127.0.0.1', () => {
    const { port } = probe.address()
    probe.close(() => resolve(port))
  })
})
// Not this program's execArgv (-e): the workers run the worker file.
cluster.setupPrimary({ exec: process.env.WORKER, execArgv: [] })
const pids = []
cluster.on('listening', (worker) => {
  pids.push(worker.process.pid)
  if (pids.length === ${WORKERS}) {
    console.log(JSON.stringify({ port, workers: pids, stop: typeof stopClusterPrimary }))
  }
})
for (let i = 0; i < ${WORKERS}; i++) cluster.fork({ PORT: String(port) })
const stop = () => {
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL')
  process.exit(0)
}
process.stdin.on('end', stop)
process.stdin.on('error', stop)
process.stdin.resume()
`

/** A primary whose worker imports the subpath: it must refuse, naming the reason. */
const WORKER_IMPORTS = `
import cluster from 'node:cluster'
cluster.setupPrimary({
  exec: process.execPath,
  execArgv: [
    '--input-type=module',
    '-e',
    "import('@shallot/monitoring/primary').then(() => console.log('imported'), (err) => console.log('refused: ' + err.message)).finally(() => process.exit(0))",
  ],
})
cluster.fork().on('exit', (code) => console.log('worker exited ' + code))
`

const children = new Set<ChildProcess>()

function node(code: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: PACKAGE,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  })
  children.add(child)
  return child
}

/** stdout until `done(out)` is true; rejects on exit first or after `ms`. */
function output(child: ChildProcess, done: (out: string) => boolean, ms = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(
      () => reject(new Error(`timed out; stdout: ${out}\nstderr: ${err}`)),
      ms
    )
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString()
    })
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      if (done(out)) {
        clearTimeout(timer)
        resolve(out)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (done(out)) resolve(out)
      else reject(new Error(`exited (${code}); stdout: ${out}\nstderr: ${err}`))
    })
  })
}

beforeAll(() => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-b'], { cwd: PACKAGE, stdio: 'inherit', timeout: 60_000 })
}, 90_000)

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    const exited = new Promise((r) => child.once('exit', r))
    try {
      // The whole group: the primary and its workers.
      process.kill(-(child.pid as number), 'SIGKILL')
    } catch {
      // Gone already.
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
  }
  children.clear()
})

describe('@shallot/monitoring/primary', () => {
  it('should make /metrics and /stats cluster-wide when the primary imports it', async () => {
    const primary = node(PRIMARY, { WORKER })
    const line = await output(primary, (out) => out.includes('\n'))
    const ready = JSON.parse(line) as { port: number; workers: number[]; stop: string }
    expect(ready.stop).toBe('function')
    const get = (path: string) => rawRequest(`http://127.0.0.1:${ready.port}`, { path })

    // A worker takes part once the primary answered its hello.
    for (let i = 0; ; i++) {
      const stats = JSON.parse((await get('/stats')).body) as MonitoringStats
      if (stats.processes === WORKERS) break
      if (i === 100) throw new Error(`the cluster never reported ${WORKERS} processes`)
      await new Promise((r) => setTimeout(r, 50))
    }
    const served = new Set<string>()
    for (let i = 0; i < REQUESTS; i++) {
      const res = await get(`/work/${i}`)
      expect(res.status).toBe(200)
      served.add(res.headers['x-worker'] as string)
    }
    expect([...served].sort()).toEqual(ready.workers.map(String).sort())

    const answeredBy = new Set<string>()
    for (let i = 0; i < 10 && answeredBy.size < WORKERS; i++) {
      const metrics = await get('/metrics')
      answeredBy.add(metrics.headers['x-worker'] as string)
      const m = parseExposition(metrics.body, 'prometheus')
      const sum = (name: string) => find(m, name).reduce((acc, s) => acc + s.value, 0)
      // Both workers' requests, whichever answers; the scrapes and probes are not counted.
      expect(sum('http_server_request_duration_seconds_count')).toBe(REQUESTS)
      expect(sum('http_server_requests_total')).toBe(REQUESTS)
    }
    expect(answeredBy.size).toBe(WORKERS)
  })

  it('should throw when imported in a cluster worker, naming why', async () => {
    const out = await output(node(WORKER_IMPORTS), (o) => o.includes('worker exited'))
    expect(out).toBe(
      'refused: [@shallot/monitoring] setupClusterPrimary() must be called in the cluster primary\nworker exited 0\n'
    )
  })

  it('should run setupClusterPrimary() once at import, and export what it returned', async () => {
    const mod = await import('../src/primary.js')
    try {
      expect(typeof mod.stopClusterPrimary).toBe('function')
      // Calling it again returns the same function: the import did call it.
      expect(setupClusterPrimary()).toBe(mod.stopClusterPrimary)
      const again = await import('../src/primary.js')
      expect(again.stopClusterPrimary).toBe(mod.stopClusterPrimary)
    } finally {
      mod.stopClusterPrimary()
    }
    // Stopped: a new setup is a new function.
    const fresh = setupClusterPrimary()
    expect(fresh).not.toBe(mod.stopClusterPrimary)
    fresh()
  })
})
