/**
 * Runs docs/recipes/*.md: every ts block is written to test/recipes/.tmp/<file>-<n>.ts,
 * typechecked, imported, served on port 0, and the http block after it is replayed against
 * it; sh blocks may only name workspace packages. The block and http formats are described
 * in ./recipe-format.ts. A run that finds no recipe fails: a runner that checks nothing
 * must not pass.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { listen, type RawResponse, rawRequest } from '@shallot/test-utils'
import ts from 'typescript'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  checkResponse,
  type Exchange,
  type Plan,
  parseHttpBlock,
  planRecipe,
  relativeImports,
} from './recipe-format.js'

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))
const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
const DOCS = join(ROOT, 'docs', 'recipes')
const TMP = join(PACKAGE_DIR, '.tmp')
const EXCHANGE_TIMEOUT_MS = 5000

// Collect everything up front: all blocks are written before any test runs, so that one
// TypeScript program can check them all.
const files = existsSync(DOCS)
  ? readdirSync(DOCS)
      .filter((f) => f.endsWith('.md'))
      .sort()
  : []
const plans = new Map<string, Plan>()
rmSync(TMP, { recursive: true, force: true })
mkdirSync(TMP, { recursive: true })
// What a recipe writes to os.tmpdir() (an access log, say) lands here, removed with the rest
// on the next run, instead of piling up in the system's temporary directory.
const SCRATCH = join(TMP, 'tmpdir')
mkdirSync(SCRATCH)
process.env.TMPDIR = SCRATCH
for (const file of files) {
  const plan = planRecipe(readFileSync(join(DOCS, file), 'utf8'))
  plans.set(file, plan)
  for (const run of plan.runs) writeFileSync(tmpFile(file, run.n), run.block.code)
}

function tmpFile(file: string, n: number): string {
  return join(TMP, `${file.replace(/\.md$/, '')}-${n}.ts`)
}

/** Publishable workspace packages, by name: what a recipe may tell users to install. */
const workspacePackages = new Set(
  readdirSync(join(ROOT, 'packages')).flatMap((dir) => {
    const manifest = join(ROOT, 'packages', dir, 'package.json')
    if (!existsSync(manifest)) return []
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; private?: boolean }
    return pkg.name !== undefined && pkg.private !== true ? [pkg.name] : []
  })
)

interface TypeError_ {
  line: number
  column: number
  text: string
}

let typeErrors: Map<string, TypeError_[]> | undefined

/** Type errors per .tmp file, from one program over all of them with the repository's strict base. */
function typeErrorsOf(path: string): TypeError_[] {
  typeErrors ??= typecheck([...plans].flatMap(([file, p]) => p.runs.map((r) => tmpFile(file, r.n))))
  return typeErrors.get(resolve(path)) ?? []
}

function typecheck(rootNames: string[]): Map<string, TypeError_[]> {
  const config = ts.parseJsonConfigFileContent(
    { extends: join(ROOT, 'tsconfig.json'), compilerOptions: { noEmit: true }, files: rootNames },
    ts.sys,
    PACKAGE_DIR
  )
  if (config.errors.length > 0) {
    throw new Error(ts.formatDiagnostics(config.errors, formatHost))
  }
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options })
  const byFile = new Map<string, TypeError_[]>()
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    if (d.file === undefined || d.start === undefined) {
      // A global error concerns every block.
      for (const name of rootNames) push(byFile, resolve(name), { line: 0, column: 0, text })
      continue
    }
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start)
    push(byFile, resolve(d.file.fileName), { line: line + 1, column: character + 1, text })
  }
  return byFile
}

const formatHost: ts.FormatDiagnosticsHost = {
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => PACKAGE_DIR,
  getNewLine: () => '\n',
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no response within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function show(res: RawResponse): string {
  const head = []
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    head.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`)
  }
  const body = res.body.length > 800 ? `${res.body.slice(0, 800)}...` : res.body
  return `the response was:\n${res.status}\n${head.join('\n')}\n\n${body}`
}

async function replay(url: string, file: string, ex: Exchange): Promise<void> {
  const what = `${file}:${ex.line} ${ex.method} ${ex.target}`
  const res = await within(
    rawRequest(url, { method: ex.method, path: ex.target, headers: ex.headers, body: ex.body }),
    EXCHANGE_TIMEOUT_MS,
    what
  )
  expect(checkResponse(ex, res), `${what}: ${show(res)}`).toEqual([])
}

// The type check of every block is one program over all of them: it takes seconds, and on
// a loaded 2-core machine (CI runs the suites side by side) more than a test's timeout, so it
// runs once before the tests, under its own bound, instead of inside whichever test is first.
const TYPECHECK_TIMEOUT_MS = 120_000
beforeAll(() => {
  typeErrorsOf(DOCS)
}, TYPECHECK_TIMEOUT_MS)

describe('docs/recipes', () => {
  it('should find recipes to check', () => {
    expect(files, `no .md file in ${DOCS}`).not.toEqual([])
    const blocks = [...plans.values()].reduce((sum, p) => sum + p.runs.length, 0)
    expect(blocks, 'no ts block in any recipe').toBeGreaterThan(0)
  })
})

for (const file of files) {
  const plan = plans.get(file) as Plan
  describe(file, () => {
    for (const problem of plan.problems) {
      it(`is well-formed: ${problem.message}`, () => {
        throw new Error(`${file} ${problem.message}`)
      })
    }

    for (const run of plan.runs) {
      const { block, http } = run
      it(`ts block ${run.n} (line ${block.line}) runs and answers as its http block says`, async () => {
        const where = `${file} ts block ${run.n} (line ${block.line})`
        if (http === undefined) {
          throw new Error(
            `${where} is not followed by an http block: every recipe must be checked (see test/recipes/test/recipe-format.ts)`
          )
        }
        const exchanges = parseHttpBlock(http.code, http.line)

        expect(relativeImports(block.code), `${where} imports by relative path`).toEqual([])
        const path = tmpFile(file, run.n)
        const errors = typeErrorsOf(path).map(
          (e) => `${file}:${block.line + e.line - 1}:${e.column}: ${e.text}`
        )
        expect(errors, `${where} has type errors`).toEqual([])

        const mod = (await import(/* @vite-ignore */ pathToFileURL(path).href)) as {
          default?: unknown
        }
        const app = mod.default
        if (typeof app !== 'function') {
          throw new Error(`${where} must end with \`export default app\`, app being a Handler`)
        }
        const server = await listen(app as Parameters<typeof listen>[0])
        try {
          for (const ex of exchanges) await replay(server.url, file, ex)
        } finally {
          await server.close()
        }
      })
    }

    for (const shell of plan.shells) {
      it(`sh block (line ${shell.line}) names only workspace packages`, () => {
        const named = [...shell.code.matchAll(/@shallot\/[a-z0-9-]+(?:[._][a-z0-9-]+)*/gi)].map(
          (m) => m[0]
        )
        const unknown = named.filter((name) => !workspacePackages.has(name))
        expect(
          unknown,
          `not packages/* of this workspace: ${[...workspacePackages].join(', ')}`
        ).toEqual([])
      })
    }
  })
}
