import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { cli, exitWithin, fixture } from './helpers.js'

const APP = fixture('app.mjs')

/** Runs the CLI to its end; returns the exit code and its output. */
async function run(args: string[], env?: NodeJS.ProcessEnv) {
  const r = cli(args, env === undefined ? {} : { env })
  const exit = await exitWithin(r, 10_000)
  return { code: exit.code, stderr: r.stderr.join('\n'), stdout: r.stdout.join('\n') }
}

describe('shallot-serve: arguments', () => {
  it('should print the usage with --help and -h, and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout } = await run([flag])
      expect(code).toBe(0)
      expect(stdout).toMatch(/^Usage: shallot-serve <module> \[options\]/)
      expect(stdout).toMatch(/default export, or else a\s+named export "handler" or "app"/)
      for (const option of [
        '--port',
        '--host',
        '--workers',
        '--keep-alive-timeout',
        '--headers-timeout',
        '--request-timeout',
        '--shutdown-timeout',
        '--max-requests',
        '--max-requests-jitter',
        '--restart-delay',
        '--max-restart-delay',
        '--max-restarts',
        '--min-uptime',
        '--primary',
      ]) {
        expect(stdout).toContain(option)
      }
    }
  })

  it('should print the version with --version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    const { code, stdout } = await run(['--version'])
    expect(code).toBe(0)
    expect(stdout).toBe(pkg.version)
  })

  it('should exit 2, naming the flag, on bad arguments', async () => {
    const cases: [string[], RegExp][] = [
      [[], /missing the module to serve/],
      [[APP, '--nope'], /unknown option "--nope"/],
      [[APP, '-x'], /unknown option "-x"/],
      [[APP, '--port'], /option "--port" needs a value/],
      [[APP, '--port', 'abc'], /option "--port" must be a non-negative integer, got "abc"/],
      [[APP, '--port', '-1'], /option "--port"/],
      [[APP, '--port', '70000'], /option "--port" must be an integer from 0 to 65535, got 70000/],
      [[APP, '--workers', 'many'], /option "--workers" must be a non-negative integer or "auto"/],
      [[APP, '--host', 'not a host'], /option "--host" must be an IP address or a host name/],
      [[APP, '--keep-alive-timeout', '1s'], /option "--keep-alive-timeout" must be/],
      [
        [APP, '--keep-alive-timeout', '10000', '--headers-timeout', '5000'],
        /option "--headers-timeout" must be greater than "--keep-alive-timeout" \(10000\), got 5000/,
      ],
      [
        [APP, '--workers', '0', '--max-requests', '100'],
        /option "--max-requests" must be 0 when "--workers" is 0/,
      ],
      [
        [APP, '--max-requests-jitter', '10'],
        /option "--max-requests-jitter" must be 0 when "--max-requests" is 0/,
      ],
      [[APP, '--max-restarts', 'lots'], /option "--max-restarts" must be a non-negative integer/],
      [[APP, APP], /one module to serve, got 2/],
    ]
    for (const [args, re] of cases) {
      const { code, stderr } = await run(args)
      expect(code, `${args.join(' ')}\n${stderr}`).toBe(2)
      expect(stderr).toMatch(re)
      expect(stderr).toMatch(/^\[@shallot\/serve\] /)
      expect(stderr).toMatch(/Run "shallot-serve --help" for usage\.$/)
    }
  })

  it('should exit 2 on a bad PORT environment variable, and let --port override it', async () => {
    const bad = await run([APP], { PORT: 'eighty' })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(
      /environment variable PORT must be an integer from 0 to 65535, got "eighty"/
    )
    // With --port, PORT is not read; --help makes it exit before serving.
    const ok = await run([APP, '--port', '0', '--help'], { PORT: 'eighty' })
    expect(ok.code).toBe(0)
  })

  it('should exit 3 when the module file does not exist, without starting workers', async () => {
    const { code, stderr } = await run(['./no-such-app.js', '--port', '0'])
    expect(code).toBe(3)
    expect(stderr).toMatch(/could not load \.\/no-such-app\.js: no such file/)
    expect(stderr).not.toMatch(/worker/)
  })
})
