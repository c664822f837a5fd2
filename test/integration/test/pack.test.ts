import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = new URL('../../../', import.meta.url).pathname
const packagesDir = join(root, 'packages')

interface Manifest {
  name: string
  version: string
  private?: boolean
}

const publishable: { dir: string; manifest: Manifest }[] = []
for (const name of await readdir(packagesDir)) {
  const file = join(packagesDir, name, 'package.json')
  const manifest = JSON.parse(await readFile(file, 'utf8').catch(() => 'null')) as Manifest | null
  if (manifest && !manifest.private) publishable.push({ dir: join(packagesDir, name), manifest })
}

let work = ''
const tarballs = new Map<string, string>()

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'shallot-pack-'))
  for (const { dir, manifest } of publishable) {
    const { stdout } = await run('pnpm', ['pack', '--pack-destination', work], { cwd: dir })
    const tgz = stdout.trim().split('\n').pop() as string
    tarballs.set(manifest.name, tgz.startsWith('/') ? tgz : join(work, tgz))
  }
}, 120_000)

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

describe('packed tarballs', () => {
  it('should find the publishable packages', () => {
    expect(publishable.map((p) => p.manifest.name)).toContain('@shallot/stack')
  })

  for (const { manifest } of publishable) {
    it(`${manifest.name} should pass publint --strict`, async () => {
      const tgz = tarballs.get(manifest.name) as string
      const { stdout } = await run('pnpm', ['exec', 'publint', 'run', tgz, '--strict'], {
        cwd: root,
      })
      expect(stdout).toMatch(/All good!/)
    }, 60_000)

    it(`${manifest.name} should pass arethetypeswrong (ESM-only profile)`, async () => {
      const tgz = tarballs.get(manifest.name) as string
      // attw exits non-zero on any problem outside the ignored (CJS/node10) resolutions;
      // the JSON also lists the ignored ones, which must be the only problems.
      const { stdout } = await run(
        'pnpm',
        ['exec', 'attw', tgz, '--profile', 'esm-only', '--format', 'json'],
        { cwd: root }
      )
      const report = JSON.parse(stdout) as {
        analysis: {
          entrypoints: Record<string, unknown>
          problems: { kind: string; resolutionKind?: string; entrypoint?: string }[]
        }
      }
      const ignored = new Set(['node10', 'node16-cjs'])
      const problems = report.analysis.problems.filter(
        (p) => p.resolutionKind === undefined || !ignored.has(p.resolutionKind)
      )
      expect(problems).toEqual([])
      expect(Object.keys(report.analysis.entrypoints)).toContain('.')
    }, 60_000)

    it(`${manifest.name} should ship dist, types and no tests`, async () => {
      const tgz = tarballs.get(manifest.name) as string
      const { stdout } = await run('tar', ['-tzf', tgz])
      const files = stdout.trim().split('\n')
      expect(files).toContain('package/dist/index.js')
      expect(files).toContain('package/dist/index.d.ts')
      expect(files).toContain('package/README.md')
      expect(files.some((f) => f.includes('/test/') || f.endsWith('.tsbuildinfo'))).toBe(false)
      const packed = JSON.parse(
        (await run('tar', ['-xzOf', tgz, 'package/package.json'])).stdout
      ) as Record<string, unknown>
      expect(JSON.stringify(packed)).not.toMatch(/workspace:/)
    }, 60_000)
  }
})

describe('@shallot/stack installed with plain npm in an empty directory', () => {
  let app = ''
  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'shallot-install-'))
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }))
    await run(
      'npm',
      [
        'install',
        tarballs.get('@shallot/stack') as string,
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
      ],
      { cwd: app }
    )
  }, 120_000)
  afterAll(async () => {
    if (app) await rm(app, { recursive: true, force: true })
  })

  const program = (load: string) => `
${load}
const http = require('node:http')
const app = stack((next) => (req, res) => { res.setHeader('x-layer', '1'); return next(req, res) })(
  (req, res) => { res.end('hello from ' + req.url) })
const server = http.createServer(app).listen(0, '127.0.0.1', async () => {
  const r = await fetch('http://127.0.0.1:' + server.address().port + '/a//b')
  console.log(r.status, r.headers.get('x-layer'), await r.text())
  server.close()
})`

  it('should load with import', async () => {
    const file = join(app, 'main.mjs')
    await writeFile(
      file,
      program(
        "import { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)\nimport { stack } from '@shallot/stack'"
      )
    )
    const { stdout } = await run(process.execPath, [file], { cwd: app, timeout: 20_000 })
    expect(stdout.trim()).toBe('200 1 hello from /a/b')
  }, 30_000)

  it('should load with require() (Node >= 20.19 requires ESM)', async () => {
    const file = join(app, 'main.cjs')
    await writeFile(file, program("const { stack } = require('@shallot/stack')"))
    const { stdout, stderr } = await run(process.execPath, [file], { cwd: app, timeout: 20_000 })
    expect(stdout.trim()).toBe('200 1 hello from /a/b')
    expect(stderr).not.toMatch(/Error/)
  }, 30_000)
})
