import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serve } from '../src/index.js'
import { resolveOptions } from '../src/options.js'
import {
  CLI,
  cli,
  exitWithin,
  FIXTURES,
  fixture,
  get,
  pidOf,
  type Running,
  start,
} from './helpers.js'

const BASE = ['--port', '0', '--host', '127.0.0.1']
const APP = fixture('app.mjs')

let tmp = ''
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'shallot-serve-primary-'))
  // A package in node_modules, for bare specifiers: `shallot-primary-fixture/hook`.
  const pkg = join(tmp, 'project', 'node_modules', 'shallot-primary-fixture')
  mkdirSync(pkg, { recursive: true })
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({
      name: 'shallot-primary-fixture',
      type: 'module',
      exports: { './hook': './hook.js', './import-only': { import: './hook.js' } },
    })
  )
  writeFileSync(
    join(pkg, 'hook.js'),
    [
      "import cluster from 'node:cluster'",
      'const workers = Object.keys(cluster.workers ?? {}).length',
      "console.log('package-hook pid', process.pid, 'workers', workers)",
    ].join('\n')
  )
  // A file next to it, named without ./
  writeFileSync(join(tmp, 'project', 'local-hook.mjs'), 'console.log("local-hook")\n')
})
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

/** The pids of the workers, from `n` requests on new connections. */
async function workerPids(port: number, n = 8): Promise<Set<number>> {
  const pids = new Set<number>()
  for (let i = 0; i < n; i++) pids.add(pidOf(await get(port, '/pid')))
  return pids
}

async function stop(r: Running): Promise<void> {
  r.signal('SIGTERM')
  expect(await exitWithin(r)).toEqual({ code: 0, signal: null })
}

describe('shallot-serve --primary', () => {
  it('should import the module once, in the primary, and fork only after its top-level await', async () => {
    const marker = join(tmp, 'marker-1')
    const r = cli([APP, ...BASE, '--workers', '2', '--primary', './primary-hook.mjs'], {
      env: { PRIMARY_MARKER: marker },
    })
    const port = await r.ready()
    expect(r.stdout).toContain(`primary-hook start pid ${r.pid} primary true workers 0`)
    // It waited 200 ms at its top level: still no worker when it was done.
    expect(r.stdout).toContain('primary-hook done workers 0')
    expect(r.stderr).toContain('[@shallot/serve] primary hook ./primary-hook.mjs done')
    const pids = await workerPids(port)
    expect(pids.size).toBe(2)
    // Its cluster listeners were in place for every worker.
    for (const pid of pids) {
      await r.waitFor(new RegExp(`^primary-hook saw worker ${pid}$`), { stream: 'stdout' })
    }
    // Once, in the primary: the workers never ran it.
    expect(readFileSync(marker, 'utf8')).toBe(`primary-hook ${r.pid}\n`)
    expect(r.stdout.filter((l) => l.startsWith('primary-hook start'))).toHaveLength(1)
    await stop(r)
  })

  it('should run several in the order given, each once', async () => {
    const marker = join(tmp, 'marker-2')
    const r = cli(
      [
        APP,
        ...BASE,
        '--primary',
        './primary-second.mjs',
        '--primary',
        fixture('primary-hook.mjs'),
        '--primary',
        pathToFileURL(fixture('primary-second.mjs')).href,
      ],
      { env: { PRIMARY_MARKER: marker } }
    )
    await r.ready()
    // The same module given twice (a path and its URL) is one module: imported once.
    expect(readFileSync(marker, 'utf8')).toBe(`primary-second ${r.pid}\nprimary-hook ${r.pid}\n`)
    await stop(r)
  })

  it('should resolve a package specifier from the working directory', async () => {
    const r = start(
      CLI,
      [APP, ...BASE, '--workers', '2', '--primary', 'shallot-primary-fixture/hook'],
      { cwd: join(tmp, 'project') }
    )
    const port = await r.ready()
    expect(r.stdout).toContain(`package-hook pid ${r.pid} workers 0`)
    expect(r.stderr).toContain('[@shallot/serve] primary hook shallot-primary-fixture/hook done')
    expect((await workerPids(port)).size).toBe(2)
    await stop(r)
  })

  it('should exit 3, naming the module and its error, when it throws, before any worker starts', async () => {
    const r = cli([APP, ...BASE, '--workers', '2', '--primary', './primary-throws.mjs'])
    expect((await exitWithin(r)).code).toBe(3)
    const stderr = r.stderr.join('\n')
    expect(stderr).toMatch(
      /^\[@shallot\/serve\] could not load the primary module \.\/primary-throws\.mjs: Error: the primary hook is broken$/m
    )
    // Its stack, to find the line.
    expect(stderr).toMatch(/primary-throws\.mjs:2/)
    expect(stderr).toMatch(
      /stopping: a primary hook failed, no worker was started \(exit code 3\)\n.*stopped \(exit code 3\)$/
    )
    expect(stderr).not.toMatch(/worker \d+ \(pid/)
  })

  it('should exit 3 when its top-level await can never finish, instead of exiting 0 silently', async () => {
    const r = cli([APP, ...BASE, '--primary', './primary-never.mjs'])
    expect((await exitWithin(r)).code).toBe(3)
    expect(r.stderr.join('\n')).toMatch(
      /the primary hook \.\/primary-never\.mjs never finished: it waits for a promise that nothing left in the process can settle\n.*no worker was started \(exit code 3\)/
    )
  })

  it('should stop at once on SIGTERM while a hook runs, without forking', async () => {
    const r = cli([APP, ...BASE, '--workers', '2', '--primary', './primary-slow.mjs'])
    await r.waitFor(/^primary-slow waiting$/, { stream: 'stdout' })
    r.signal('SIGTERM')
    expect(await exitWithin(r, 5000)).toEqual({ code: 0, signal: null })
    expect(r.stdout).not.toContain('primary-slow done')
    expect(r.stderr.join('\n')).not.toMatch(/worker \d+ \(pid/)
  })

  it('should exit 3 with a clear message when the module cannot be found', async () => {
    const cases: [string[], string | undefined, RegExp][] = [
      [
        ['--primary', './no-such-hook.mjs'],
        undefined,
        /could not load the primary module \.\/no-such-hook\.mjs: no such file \(.*no-such-hook\.mjs\)/,
      ],
      [
        ['--primary', 'shallot-no-such-package/primary'],
        undefined,
        /could not load the primary module shallot-no-such-package\/primary: cannot resolve it from .*: Cannot find module 'shallot-no-such-package\/primary'/,
      ],
      [
        // A file named without ./ is taken for a package, with a hint.
        ['--primary', 'local-hook.mjs'],
        join(tmp, 'project'),
        /could not load the primary module local-hook\.mjs: cannot resolve it from .*: Cannot find module 'local-hook\.mjs'.* \(to load the file \.\/local-hook\.mjs, write "\.\/local-hook\.mjs": a name without \.\/ is a package\)/,
      ],
      [
        // A package that exports the module only for import: not resolved (require.resolve rules).
        ['--primary', 'shallot-primary-fixture/import-only'],
        join(tmp, 'project'),
        /could not load the primary module shallot-primary-fixture\/import-only: cannot resolve it from/,
      ],
    ]
    for (const [args, cwd, re] of cases) {
      const r = start(CLI, [APP, ...BASE, '--workers', '2', ...args], {
        cwd: cwd ?? FIXTURES,
      })
      const exit = await exitWithin(r)
      const stderr = r.stderr.join('\n')
      expect(exit.code, stderr).toBe(3)
      expect(stderr).toMatch(re)
      expect(stderr).not.toMatch(/worker \d+ \(pid/)
    }
  })

  it('should refuse --primary with --workers 0 (exit 2), and a module path that is empty', async () => {
    for (const [args, re] of [
      [
        ['--workers', '0', '--primary', './primary-hook.mjs'],
        /option "--primary" needs "--workers" of 1 or more: with "--workers" 0 there is no primary process/,
      ],
      [['--primary', ''], /option "--primary" must be a module path, a file: URL/],
      [['--primary'], /option "--primary" needs a value/],
    ] as [string[], RegExp][]) {
      const r = cli([APP, ...BASE, ...args])
      const exit = await exitWithin(r)
      const stderr = r.stderr.join('\n')
      expect(exit.code, stderr).toBe(2)
      expect(stderr).toMatch(re)
      expect(r.stdout.join('')).toBe('')
    }
  })
})

describe('serve({ primary })', () => {
  it('should call a function and import a module in the primary, in order, before forking', async () => {
    const r = start(fixture('api-primary.mjs'), [])
    const m = await r.waitFor(/^ready (http:\/\/127\.0\.0\.1:(\d+)) workers (\d+),(\d+)$/, {
      stream: 'stdout',
      ms: 15_000,
    })
    // serve() returned before the hooks ran: no worker yet.
    expect(r.stdout[0]).toBe('mode primary workers 0')
    const hookLines = r.stdout.filter((l) => /^(hook-fn|primary-second) /.test(l))
    expect(hookLines).toEqual([`hook-fn pid ${r.pid} workers 0`, `primary-second pid ${r.pid}`])
    expect(r.stderr).toContain('[@shallot/serve] primary hook function setup done')
    const pids = await workerPids(Number(m[2]))
    expect(pids).toEqual(new Set([Number(m[3]), Number(m[4])]))
    r.signal('SIGTERM')
    expect(await exitWithin(r)).toEqual({ code: 0, signal: null })
  })

  it('should reject ready with ERR_SERVE_LOAD and close with 3 when a hook throws', async () => {
    const r = start(fixture('api-primary.mjs'), [], { env: { HOOK: 'throws' } })
    expect((await exitWithin(r)).code).toBe(3)
    expect(r.stdout).toContain('ready-rejected ServeError ERR_SERVE_LOAD 3')
    expect(r.stdout).toContain('closed 3')
    expect(r.stdout.some((l) => l.startsWith('primary-second'))).toBe(false)
    expect(r.stderr.join('\n')).toMatch(
      /primary hook function setup failed: Error: the hook function is broken\n\s+at setup /
    )
    expect(r.stderr.join('\n')).not.toMatch(/worker \d+ \(pid/)
  })

  it('should run the hook in the primary only when workers re-run the program', async () => {
    const r = start(fixture('api-script-primary.mjs'), [])
    const port = await r.ready()
    const pids = await workerPids(port)
    expect(pids.size).toBe(2)
    for (const pid of pids) {
      await r.waitFor(new RegExp(`^script-run ${pid} worker$`), { stream: 'stdout' })
    }
    expect(r.stdout.filter((l) => l.startsWith('hook-fn '))).toEqual([`hook-fn ${r.pid}`])
    await stop(r)
  })

  it('should check the option at once', () => {
    const o = resolveOptions({ workers: 2, primary: './x.mjs' }, {})
    expect(o.primary).toEqual([
      { kind: 'url', url: pathToFileURL(join(process.cwd(), 'x.mjs')).href },
    ])
    expect(resolveOptions({ workers: 1, primary: '@scope/pkg/primary' }, {}).primary).toEqual([
      { kind: 'package', specifier: '@scope/pkg/primary', cwd: process.cwd() },
    ])
    expect(resolveOptions({ workers: 1 }, {}).primary).toEqual([])
    const fn = () => {}
    const url = new URL('file:///srv/primary.js')
    expect(resolveOptions({ workers: 1, primary: [fn, url, 'file:///a.js'] }, {}).primary).toEqual([
      { kind: 'function', fn },
      { kind: 'url', url: 'file:///srv/primary.js' },
      { kind: 'url', url: 'file:///a.js' },
    ])
    for (const [primary, re] of [
      [
        42,
        /option "primary" must be a module path, a file: URL, a package specifier or a function, got 42/,
      ],
      ['', /option "primary" must be .*, got ""/],
      [[fn, null], /option "primary" must be .*, got null/],
      [
        new URL('https://example.com/x.js'),
        /option "primary" must be .*\(a file: URL\), got "https:/,
      ],
      [{ path: './x.js' }, /option "primary" must be .*, got an object/],
    ] as [unknown, RegExp][]) {
      expect(() => serve(() => {}, { workers: 1, primary: primary as string })).toThrow(re)
    }
    expect(() => serve(() => {}, { primary: fn })).toThrow(
      /option "primary" needs "workers" of 1 or more/
    )
    // An empty list is no hook: fine without workers.
    expect(resolveOptions({ workers: 0, primary: [] }, {}).primary).toEqual([])
  })
})
