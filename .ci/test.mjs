// `pnpm test`: runs every workspace package's tests through turbo (built packages first),
// then prints one summary line over all of them. Exits non-zero on any failure, and when
// no test ran at all: a suite that checks nothing must not pass.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const groups = ['packages', 'test', 'examples', 'bench']

function packageDirs() {
  const dirs = []
  for (const group of groups) {
    const base = join(root, group)
    if (!existsSync(base)) continue
    if (existsSync(join(base, 'package.json'))) dirs.push(base)
    for (const name of readdirSync(base)) {
      const dir = join(base, name)
      if (existsSync(join(dir, 'package.json'))) dirs.push(dir)
    }
  }
  return dirs
}

for (const dir of packageDirs()) rmSync(join(dir, '.vitest', 'results.json'), { force: true })

const turbo = spawnSync(
  'pnpm',
  ['exec', 'turbo', 'run', 'test', '--continue', ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
    env: { TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', ...process.env },
  }
)

let passed = 0
let failed = 0
let skipped = 0
const perPackage = []
for (const dir of packageDirs()) {
  const file = join(dir, '.vitest', 'results.json')
  if (!existsSync(file)) continue
  const r = JSON.parse(readFileSync(file, 'utf8'))
  passed += r.numPassedTests
  failed += r.numFailedTests
  skipped += r.numPendingTests + r.numTodoTests
  perPackage.push(
    `${dir.slice(root.length)}: ${r.numPassedTests} passed, ${r.numFailedTests} failed`
  )
}
console.log(`\n${perPackage.join('\n')}`)
console.log(`Tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
const status = turbo.status ?? 1
if (status !== 0) process.exit(status)
if (failed > 0 || passed === 0) process.exit(1)
