// `node bench/run.mjs --quick` as CI runs it: every full-stack contender (with and without
// a session cookie) and nginx are started, role-checked and loaded for a second. Asserts
// that the harness and the servers work, never how fast anything is.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'

const BENCH = fileURLToPath(new URL('..', import.meta.url))

/** Bounds the whole smoke run (about a minute on an idle 2-core machine). */
const LIMIT_MS = 10 * 60_000

/** The scenarios --quick must report, each in a row of its own. */
const CONTENDERS = [
  'native',
  'stack-10',
  'full-native',
  ...['shallot', 'express', 'fastify', 'koa', 'hono'].flatMap((id) => [
    `full-${id}`,
    `full-${id}-cookie`,
  ]),
  'static-1k-shallot',
  'static-1k-nginx',
  'static-range-shallot',
  'static-range-nginx',
]

const dir = mkdtempSync(join(tmpdir(), 'shallot-bench-quick-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs the harness and resolves with its exit code and what it wrote on stderr. */
function runQuick(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['run.mjs', ...args], {
      cwd: BENCH,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    // The harness stops its servers on SIGTERM; this only bounds a harness that hangs.
    const timer = setTimeout(() => child.kill('SIGTERM'), LIMIT_MS - 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stderr })
    })
  })
}

it(
  'bench --quick checks and loads every contender and writes a row for each',
  async () => {
    const md = join(dir, 'quick.md')
    const { code, stderr } = await runQuick([
      '--quick',
      '--md',
      md,
      '--out',
      join(dir, 'quick.json'),
    ])
    expect(code, stderr).toBe(0)

    const report = readFileSync(md, 'utf8')
    for (const name of CONTENDERS) {
      // `| name |` or `| name (1 disturbed) |`; never "with errors", and a measured req/s
      const row = new RegExp(`^\\| ${name}(?: \\(([^)]*)\\))? \\| [^|]+ \\| ([\\d,]+) \\|`, 'm')
      const match = row.exec(report)
      expect(match, `no row for ${name} in\n${report}`).not.toBeNull()
      expect(match?.[1] ?? '').not.toContain('with errors')
    }
    expect(report).not.toContain('## Failures')

    const chart = readFileSync(join(dir, 'quick.svg'), 'utf8')
    expect(chart.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    for (const name of CONTENDERS.filter((n) => n.startsWith('full-'))) {
      expect(chart).toContain(`>${name}</text>`)
    }

    const json = JSON.parse(readFileSync(join(dir, 'quick.json'), 'utf8'))
    expect(json.failures).toEqual([])
    expect(json.runs.map((r: { scenario: string }) => r.scenario).sort()).toEqual(
      [...CONTENDERS].sort()
    )
  },
  LIMIT_MS
)
