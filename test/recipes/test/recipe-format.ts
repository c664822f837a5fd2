/**
 * How docs/recipes/*.md are read and checked. Used by recipes.test.ts; tested by runner.test.ts.
 *
 * # Blocks
 *
 * Fenced blocks (```lang ... ```) at the start of a line, by language:
 *
 * - `ts`: a whole module that imports `@shallot/*` by name (no relative imports) and ends
 *   with `export default app`, `app` being a Handler. It is written to `.tmp/`, typechecked
 *   with the repository's strict tsconfig, imported, and served on port 0. The very next
 *   block must be an `http` block: a ts block that nothing checks is an error.
 * - `http`: the exchanges to replay against the module before it (format below). An `http`
 *   block that does not follow a `ts` block is an error.
 * - `sh` (or `bash`, `shell`): not run; every `@shallot/<name>` it mentions must be a
 *   publishable workspace package (a `packages/<dir>/package.json` name).
 * - `text`, `json`: shown, not checked.
 *
 * Any other language (`js`, `typescript`, none at all), an unclosed fence, or an indented
 * fence is an error, so nothing in a recipe escapes the runner unnoticed.
 *
 * # The http block
 *
 * ```http
 * # a comment line
 * GET /admin/stats                      request line: METHOD and the target, sent as is
 * authorization: Bearer secret          request headers, one per line (optional)
 * body: hello                           a request body (optional; a header named "body" cannot be sent)
 *                                       a blank line ends the request
 * 401                                   the expected status
 * www-authenticate: Bearer realm="x"    a header whose value must be equal to this text
 * x-response-time: /^\d+\.\d{3}ms$/i    ... or match this regex (value between slashes, flags after)
 * !set-cookie                           a header that must be absent
 * body: Unauthorized                    the body (trailing whitespace trimmed) must be equal to this
 * body: /token/                         ... or the body (untrimmed) must match this regex
 * ---                                   a line of three dashes starts the next exchange
 * GET /next
 * ...
 * ```
 *
 * Header names are case-insensitive; a header received several times is compared as its
 * values joined with ", ". A header line not listed is not checked. Exchanges run in order,
 * each on a new connection, against one server per ts block.
 */
import type { RawResponse } from '@shallot/test-utils'

export interface Block {
  /** The first word of the fence's info string, lower-cased. */
  lang: string
  code: string
  /** 1-based line, in the markdown file, of the block's first code line. */
  line: number
}

/** Languages and what the runner does with them. */
export const RUN = 'ts'
export const HTTP = 'http'
export const SHELL: ReadonlySet<string> = new Set(['sh', 'bash', 'shell'])
export const INERT: ReadonlySet<string> = new Set(['text', 'json'])

export class RecipeFormatError extends Error {
  constructor(
    readonly line: number,
    message: string
  ) {
    super(`line ${line}: ${message}`)
    this.name = 'RecipeFormatError'
  }
}

const FENCE = /^(\s*)(`{3,}|~{3,})(.*)$/

/** The fenced blocks of a markdown text, in order. Throws RecipeFormatError on a fence it cannot read. */
export function extractBlocks(markdown: string): Block[] {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] as string)
    if (open === null) continue
    const [, indent, fence, info] = open as unknown as [string, string, string, string]
    if (indent !== '') {
      throw new RecipeFormatError(
        i + 1,
        'indented code fence: put recipe blocks at the top level, not inside lists or quotes'
      )
    }
    const char = fence[0] as string
    let close = -1
    for (let j = i + 1; j < lines.length; j++) {
      const line = lines[j] as string
      const trimmed = line.trimEnd()
      if (trimmed.length >= fence.length && /^([`~])\1*$/.test(trimmed) && trimmed[0] === char) {
        close = j
        break
      }
    }
    if (close === -1) throw new RecipeFormatError(i + 1, 'code fence is never closed')
    const lang = (info.trim().split(/\s+/)[0] ?? '').toLowerCase()
    const body = lines.slice(i + 1, close)
    blocks.push({ lang, code: body.length === 0 ? '' : `${body.join('\n')}\n`, line: i + 2 })
    i = close
  }
  return blocks
}

export interface Run {
  /** 1-based number of the ts block in its file. */
  n: number
  block: Block
  /** The http block right after it; undefined is an error the test reports. */
  http: Block | undefined
}

export interface Plan {
  runs: Run[]
  shells: Block[]
  /** Structural errors, each reported as a failing test. */
  problems: RecipeFormatError[]
}

/** Pairs each ts block with its http block and collects what is wrong with the file. */
export function planRecipe(markdown: string): Plan {
  const plan: Plan = { runs: [], shells: [], problems: [] }
  let blocks: Block[]
  try {
    blocks = extractBlocks(markdown)
  } catch (err) {
    if (err instanceof RecipeFormatError) {
      plan.problems.push(err)
      return plan
    }
    throw err
  }
  blocks.forEach((block, k) => {
    const { lang } = block
    if (lang === RUN) {
      const next = blocks[k + 1]
      plan.runs.push({
        n: plan.runs.length + 1,
        block,
        http: next?.lang === HTTP ? next : undefined,
      })
    } else if (lang === HTTP) {
      if (blocks[k - 1]?.lang !== RUN) {
        plan.problems.push(
          new RecipeFormatError(
            block.line,
            'http block does not follow a ts block, so it would never run'
          )
        )
      }
    } else if (SHELL.has(lang)) {
      plan.shells.push(block)
    } else if (!INERT.has(lang)) {
      plan.problems.push(
        new RecipeFormatError(
          block.line,
          `a block in ${lang === '' ? 'no language' : `"${lang}"`} cannot be checked: use ts (run, followed by http), sh (install commands) or text`
        )
      )
    }
  })
  return plan
}

/** What `ts` blocks must not do: import by relative path (a user would import the package). */
export function relativeImports(code: string): string[] {
  const found: string[] = []
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.{1,2}\/[^'"]*)\1/g)) {
    found.push(m[2] as string)
  }
  return found
}

export type Matcher = { kind: 'equals'; text: string } | { kind: 'regex'; re: RegExp }

export interface HeaderCheck {
  line: number
  /** Lower-case. */
  name: string
  /** undefined: the header must be absent. */
  matcher: Matcher | undefined
}

export interface Exchange {
  /** 1-based line of the request line in the markdown file. */
  line: number
  method: string
  target: string
  headers: Record<string, string | string[]>
  body: string | undefined
  status: number
  checks: HeaderCheck[]
  bodyCheck: Matcher | undefined
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*)$/
const REQUEST_LINE = /^([A-Z]+) (\S+)(?: HTTP\/1\.1)?$/
const REGEX = /^\/(.+)\/([a-z]*)$/s

function matcher(value: string, line: number): Matcher {
  const m = REGEX.exec(value)
  if (m === null) return { kind: 'equals', text: value }
  const flags = m[2] as string
  if (/[gy]/.test(flags) || !/^[dimsuv]*$/.test(flags)) {
    throw new RecipeFormatError(line, `regex flags "${flags}": use only d, i, m, s, u, v`)
  }
  try {
    return { kind: 'regex', re: new RegExp(m[1] as string, flags) }
  } catch (err) {
    throw new RecipeFormatError(line, `invalid regex ${value}: ${(err as Error).message}`)
  }
}

/**
 * Parses an http block. `firstLine` is the markdown line of its first code line. Throws
 * RecipeFormatError on anything it cannot read: a typo must fail, not check less.
 */
export function parseHttpBlock(code: string, firstLine: number): Exchange[] {
  const lines = code.replace(/\n$/, '').split('\n')
  // `start`: the line of the group's first line; `at`: where to point when it is empty.
  const groups: { start: number; at: number; lines: string[] }[] = [
    { start: firstLine, at: firstLine, lines: [] },
  ]
  lines.forEach((text, i) => {
    const line = firstLine + i
    if (text.trim() === '---') groups.push({ start: line + 1, at: line, lines: [] })
    else (groups[groups.length - 1] as { lines: string[] }).lines.push(text)
  })
  return groups.map((g) => parseExchange(g.lines, g.start, g.at))
}

function parseExchange(raw: string[], firstLine: number, emptyAt: number): Exchange {
  // Keep line numbers; drop comments and surrounding whitespace.
  const lines = raw.map((text, i) => ({
    text: text.trimStart().startsWith('#') ? '' : text.trim(),
    line: firstLine + i,
  }))
  let i = 0
  const skipBlank = () => {
    while (i < lines.length && lines[i]?.text === '') i++
  }
  skipBlank()
  const requestLine = lines[i]
  if (requestLine === undefined) {
    throw new RecipeFormatError(emptyAt, 'empty exchange: expected a request line like "GET /"')
  }
  const req = REQUEST_LINE.exec(requestLine.text)
  if (req === null) {
    throw new RecipeFormatError(
      requestLine.line,
      `expected a request line like "GET /path", got ${JSON.stringify(requestLine.text)}`
    )
  }
  i++
  const headers: Record<string, string | string[]> = {}
  let body: string | undefined
  for (; i < lines.length && lines[i]?.text !== ''; i++) {
    const { text, line } = lines[i] as { text: string; line: number }
    const h = HEADER_LINE.exec(text)
    if (h === null)
      throw new RecipeFormatError(
        line,
        `expected a request header "name: value", got ${JSON.stringify(text)}`
      )
    const [, name, value] = h as unknown as [string, string, string]
    if (name.toLowerCase() === 'body') {
      body = value
      continue
    }
    const prev = headers[name]
    headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value]
  }
  skipBlank()
  const statusLine = lines[i]
  if (statusLine === undefined || !/^[1-5]\d\d$/.test(statusLine.text)) {
    throw new RecipeFormatError(
      statusLine?.line ?? requestLine.line,
      `expected a blank line after the request, then the expected status (e.g. 200), got ${JSON.stringify(statusLine?.text ?? 'nothing')}`
    )
  }
  i++
  const checks: HeaderCheck[] = []
  let bodyCheck: Matcher | undefined
  for (; i < lines.length; i++) {
    const { text, line } = lines[i] as { text: string; line: number }
    if (text === '') continue
    if (text.startsWith('!')) {
      const name = text.slice(1).trim()
      if (!TOKEN.test(name))
        throw new RecipeFormatError(
          line,
          `"!" must be followed by a header name, got ${JSON.stringify(text)}`
        )
      checks.push({ line, name: name.toLowerCase(), matcher: undefined })
      continue
    }
    const h = HEADER_LINE.exec(text)
    if (h === null) {
      throw new RecipeFormatError(
        line,
        `expected "name: value", "!name" or "body: ...", got ${JSON.stringify(text)}`
      )
    }
    const [, name, value] = h as unknown as [string, string, string]
    if (name.toLowerCase() === 'body') {
      if (bodyCheck !== undefined) throw new RecipeFormatError(line, 'a second "body:" line')
      bodyCheck = matcher(value, line)
    } else {
      checks.push({ line, name: name.toLowerCase(), matcher: matcher(value, line) })
    }
  }
  return {
    line: requestLine.line,
    method: req[1] as string,
    target: req[2] as string,
    headers,
    body,
    status: Number(statusLine.text),
    checks,
    bodyCheck,
  }
}

/** What differs between the expectation and the response; empty when it matches. */
export function checkResponse(ex: Exchange, res: RawResponse): string[] {
  const out: string[] = []
  if (res.status !== ex.status)
    out.push(`line ${ex.line}: expected status ${ex.status}, got ${res.status}`)
  for (const check of ex.checks) {
    const raw = res.headers[check.name]
    const actual = Array.isArray(raw) ? raw.join(', ') : raw
    const at = `line ${check.line}: header ${check.name}`
    if (check.matcher === undefined) {
      if (actual !== undefined)
        out.push(`${at}: expected no such header, got ${JSON.stringify(actual)}`)
    } else if (actual === undefined) {
      out.push(`${at}: missing`)
    } else if (!matches(check.matcher, actual, actual)) {
      out.push(`${at}: expected ${describe(check.matcher)}, got ${JSON.stringify(actual)}`)
    }
  }
  if (ex.bodyCheck !== undefined && !matches(ex.bodyCheck, res.body.trimEnd(), res.body)) {
    out.push(
      `line ${ex.line}: body: expected ${describe(ex.bodyCheck)}, got ${JSON.stringify(res.body)}`
    )
  }
  return out
}

function matches(m: Matcher, trimmed: string, raw: string): boolean {
  return m.kind === 'equals' ? trimmed === m.text.trimEnd() : m.re.test(raw)
}

function describe(m: Matcher): string {
  return m.kind === 'equals' ? JSON.stringify(m.text) : `to match ${String(m.re)}`
}
