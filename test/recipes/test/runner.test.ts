// The runner's own checks: a recipe runner that silently checks less than it says is worse
// than none, so each way of getting the format wrong must be an error, and each kind of
// mismatch must be reported.
import type { RawResponse } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import {
  checkResponse,
  extractBlocks,
  parseHttpBlock,
  planRecipe,
  RecipeFormatError,
  relativeImports,
} from './recipe-format.js'

const md = (...lines: string[]) => lines.join('\n')

describe('extractBlocks', () => {
  it('should return each fenced block with its language and first code line', () => {
    const blocks = extractBlocks(
      md('# t', '', '```ts title="x"', 'a', 'b', '```', 'text', '````http', 'GET /', '````')
    )
    expect(blocks).toEqual([
      { lang: 'ts', code: 'a\nb\n', line: 4 },
      { lang: 'http', code: 'GET /\n', line: 9 },
    ])
  })

  it('should read CRLF files', () => {
    expect(extractBlocks('```ts\r\nx\r\n```\r\n')).toEqual([{ lang: 'ts', code: 'x\n', line: 2 }])
  })

  it('should refuse an unclosed or an indented fence', () => {
    expect(() => extractBlocks(md('```ts', 'x'))).toThrow(/line 1: code fence is never closed/)
    expect(() => extractBlocks(md('- item', '  ```ts', '  x', '  ```'))).toThrow(
      /line 2: indented code fence/
    )
  })
})

describe('planRecipe', () => {
  it('should pair each ts block with the http block right after it', () => {
    const plan = planRecipe(
      md(
        '```sh',
        'npm i @shallot/stack',
        '```',
        '```ts',
        'x',
        '```',
        '```http',
        'GET /',
        '',
        '200',
        '```'
      )
    )
    expect(plan.problems).toEqual([])
    expect(plan.shells).toHaveLength(1)
    expect(plan.runs).toHaveLength(1)
    expect(plan.runs[0]?.http?.line).toBe(8)
  })

  it('should leave a ts block without http block unpaired, for the test to fail', () => {
    const plan = planRecipe(
      md('```ts', 'x', '```', '```text', 'y', '```', '```http', 'GET /', '```')
    )
    expect(plan.runs[0]?.http).toBeUndefined()
    expect(plan.problems.map((p) => p.message)).toEqual([
      'line 8: http block does not follow a ts block, so it would never run',
    ])
  })

  it('should report blocks in languages it cannot check', () => {
    const plan = planRecipe(md('```js', 'x', '```', '```', 'y', '```', '```typescript', 'z', '```'))
    expect(plan.problems.map((p) => p.line)).toEqual([2, 5, 8])
  })

  it('should report an unreadable file as a problem, not a crash', () => {
    expect(planRecipe('```ts\nx').problems[0]).toBeInstanceOf(RecipeFormatError)
  })
})

describe('relativeImports', () => {
  it('should find relative static and dynamic imports', () => {
    const code = md(
      "import { a } from './a.js'",
      "import b from '../b.js'",
      "const c = await import('./c.js')",
      "import { stack } from '@shallot/stack'",
      "import http from 'node:http'"
    )
    expect(relativeImports(code)).toEqual(['./a.js', '../b.js', './c.js'])
  })
})

describe('parseHttpBlock', () => {
  it('should read requests, expectations and several exchanges', () => {
    const code = md(
      '# comment',
      'POST /login?next=/ HTTP/1.1',
      'content-type: text/plain',
      'x-twice: 1',
      'x-twice: 2',
      'body: hi',
      '',
      '303',
      'location: /',
      'x-time: /^\\d+ms$/i',
      '!set-cookie',
      'body: /ok/s',
      '---',
      'GET /',
      '',
      '200',
      ''
    )
    const [first, second, ...rest] = parseHttpBlock(code, 10)
    expect(rest).toEqual([])
    expect(first).toMatchObject({
      line: 11,
      method: 'POST',
      target: '/login?next=/',
      headers: { 'content-type': 'text/plain', 'x-twice': ['1', '2'] },
      body: 'hi',
      status: 303,
      checks: [
        { line: 18, name: 'location', matcher: { kind: 'equals', text: '/' } },
        { line: 19, name: 'x-time', matcher: { kind: 'regex', re: /^\d+ms$/i } },
        { line: 20, name: 'set-cookie', matcher: undefined },
      ],
      bodyCheck: { kind: 'regex', re: /ok/s },
    })
    expect(second).toMatchObject({ line: 23, method: 'GET', target: '/', status: 200, checks: [] })
  })

  it('should refuse what it cannot read, naming the line', () => {
    const bad: [string, RegExp][] = [
      ['', /line 1: empty exchange/],
      ['get /', /line 1: expected a request line/],
      ['GET /\n200', /line 2: expected a request header/],
      ['GET /\n\nOK', /line 3: expected a blank line after the request, then the expected status/],
      ['GET /\n\n200\nnot a header', /line 4: expected "name: value"/],
      ['GET /\n\n200\nx: /a/g', /line 4: regex flags "g"/],
      ['GET /\n\n200\nx: /(/', /line 4: invalid regex/],
      ['GET /\n\n200\nbody: a\nbody: b', /line 5: a second "body:" line/],
      ['GET /\n\n200\n!', /line 4: "!" must be followed by a header name/],
      ['GET /\n\n200\n---\n', /line 4: empty exchange/],
    ]
    for (const [code, error] of bad) {
      expect(() => parseHttpBlock(code, 1), JSON.stringify(code)).toThrow(error)
    }
  })
})

describe('checkResponse', () => {
  const response = (over: Partial<RawResponse> = {}): RawResponse => {
    const body = over.body ?? 'hello\n'
    return {
      status: 200,
      headers: { 'content-type': 'text/plain', 'x-multi': ['a', 'b'], 'x-time': '1.5ms' },
      rawHeaders: [],
      raw: Buffer.from(body),
      body,
      ...over,
    }
  }
  const [ex] = parseHttpBlock(
    md(
      'GET /',
      '',
      '200',
      'content-type: text/plain',
      'x-multi: a, b',
      'x-time: /ms$/',
      '!set-cookie',
      'body: hello'
    ),
    1
  )

  it('should accept a response that matches', () => {
    expect(checkResponse(ex!, response())).toEqual([])
  })

  it('should report each mismatch', () => {
    const res = response({
      status: 404,
      headers: { 'content-type': 'text/html', 'x-time': '1.5s', 'set-cookie': ['a=b'] },
      body: 'hello world',
    })
    expect(checkResponse(ex!, res)).toEqual([
      'line 1: expected status 200, got 404',
      'line 4: header content-type: expected "text/plain", got "text/html"',
      'line 5: header x-multi: missing',
      'line 6: header x-time: expected to match /ms$/, got "1.5s"',
      'line 7: header set-cookie: expected no such header, got "a=b"',
      'line 1: body: expected "hello", got "hello world"',
    ])
  })
})
