import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import {
  type Listening,
  listen,
  type RawRequestOptions,
  type RawResponse,
  rawRequest,
} from '@shallot/test-utils'
import { expect } from 'vitest'

/** stack() options that keep expected 5xx errors out of the test output. */
export const quiet = { onError: (): void => {} }

export const ok = (_req: IncomingMessage, res: ServerResponse): void => {
  res.setHeader('Content-Type', 'text/plain')
  res.end('ok')
}

/** Serves `app`, runs `fn` against it, always closes. */
export async function serving<T>(
  app: RequestListener,
  fn: (server: Listening) => Promise<T>
): Promise<T> {
  const server = await listen(app)
  try {
    return await fn(server)
  } finally {
    await server.close()
  }
}

/** One request; `path` is sent as is. */
export function req(
  server: Listening,
  path = '/',
  options: RawRequestOptions = {}
): Promise<RawResponse> {
  return rawRequest(server.url, { ...options, path })
}

/** Sends `count` requests, `concurrency` at a time, on keep-alive connections (fetch). */
export async function load(
  server: Listening,
  count: number,
  path: (i: number) => string,
  concurrency = 16,
  init?: (i: number) => RequestInit
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      const res = await fetch(server.url + path(i), init?.(i))
      await res.arrayBuffer()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: string
  help: string
  samples: Sample[]
}

export interface Exposition {
  families: Map<string, Family>
  samples: Sample[]
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y
const SUFFIXES: Record<string, readonly string[]> = {
  counter: ['_total'],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
  untyped: [''],
  unknown: [''],
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  LABEL.lastIndex = 0
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text)
    if (m === null) throw new Error(`bad labels in ${JSON.stringify(line)}`)
    const [, name, raw] = m as unknown as [string, string, string]
    if (name in labels) throw new Error(`duplicate label ${name} in ${line}`)
    labels[name] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c))
  }
  return labels
}

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY
  if (text === '-Inf') return Number.NEGATIVE_INFINITY
  if (text === 'NaN') return Number.NaN
  const n = Number(text)
  if (text === '' || Number.isNaN(n)) throw new Error(`bad value in ${JSON.stringify(line)}`)
  return n
}

/**
 * A strict parser of what /metrics serves, for the tests: every sample must belong to the
 * family declared by the `# TYPE` line before it, with the suffixes its type allows; an
 * OpenMetrics document must end with `# EOF`, and its counter families must not end with
 * `_total` while their samples must. Throws on anything else.
 */
export function parseExposition(text: string, format: 'prometheus' | 'openmetrics'): Exposition {
  const open = format === 'openmetrics'
  const lines = text.split('\n')
  expect(lines.pop(), 'ends with a newline').toBe('')
  if (open) expect(lines.pop(), 'OpenMetrics ends with # EOF').toBe('# EOF')
  const families = new Map<string, Family>()
  const samples: Sample[] = []
  let current: Family | undefined
  let help = ''
  for (const line of lines) {
    if (line === '') {
      if (open) throw new Error('OpenMetrics has no blank lines')
      continue
    }
    if (line.startsWith('# HELP ')) {
      const [, name, ...rest] = line.slice(2).split(' ')
      help = rest.join(' ')
      current = undefined
      if (name === undefined) throw new Error(line)
      continue
    }
    if (line.startsWith('# TYPE ')) {
      const [, name, type] = line.slice(2).split(' ') as [string, string, string]
      if (families.has(name)) throw new Error(`family ${name} declared twice`)
      if (!(type in SUFFIXES)) throw new Error(`unknown type ${type}`)
      if (open && type === 'untyped') throw new Error('OpenMetrics says unknown, not untyped')
      if (open && type === 'counter' && name.endsWith('_total')) {
        throw new Error(`OpenMetrics counter family ${name} must not end with _total`)
      }
      current = { name, type, help, samples: [] }
      families.set(name, current)
      continue
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment ${line}`)
    const m = SAMPLE.exec(line)
    if (m === null) throw new Error(`bad sample line ${JSON.stringify(line)}`)
    const [, name, labelText, valueText] = m as unknown as [
      string,
      string,
      string | undefined,
      string,
    ]
    if (current === undefined) throw new Error(`sample without TYPE: ${line}`)
    const suffixes = open || current.type !== 'counter' ? SUFFIXES[current.type] : ['', '_total']
    const ok = (suffixes as readonly string[]).some((s) => name === current?.name + s)
    if (!ok)
      throw new Error(`sample ${name} does not belong to family ${current.name} (${current.type})`)
    const sample = {
      name,
      labels: parseLabels(labelText ?? '', line),
      value: parseValue(valueText, line),
    }
    current.samples.push(sample)
    samples.push(sample)
  }
  return { families, samples }
}

/** The samples named `name` whose labels include `labels`. */
export function find(e: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return e.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )
}

/** The value of the one sample named `name` with exactly these labels (plus `le` if given). */
export function value(
  e: Exposition,
  name: string,
  labels: Record<string, string>
): number | undefined {
  const keys = Object.keys(labels).sort().join(',')
  const found = e.samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).sort().join(',') === keys &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )
  if (found.length > 1) throw new Error(`${found.length} samples ${name} ${JSON.stringify(labels)}`)
  return found[0]?.value
}

/** GET /metrics and parse it. */
export async function scrape(
  server: Listening,
  path = '/metrics',
  format: 'prometheus' | 'openmetrics' = 'prometheus'
): Promise<Exposition> {
  const headers =
    format === 'openmetrics' ? { accept: 'application/openmetrics-text; version=1.0.0' } : undefined
  const res = await req(server, path, headers ? { headers } : {})
  expect(res.status, res.body).toBe(200)
  return parseExposition(res.body, format)
}

/** GET a JSON endpoint. */
export async function json<T = Record<string, unknown>>(
  server: Listening,
  path: string
): Promise<{ status: number; body: T; res: RawResponse }> {
  const res = await req(server, path)
  return { status: res.status, body: JSON.parse(res.body) as T, res }
}

/** Polls `check` until it returns true (at most `tries` times, 20 ms apart). */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  tries = 100
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('condition not reached')
}
