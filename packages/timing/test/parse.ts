/**
 * A strict parser for the Server-Timing header (W3C Server Timing, RFC 9110 token and
 * quoted-string), so tests prove the header is well-formed, not just that it contains text.
 */
export interface ParsedMetric {
  name: string
  dur: number | undefined
  desc: string | undefined
}

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+"
const QUOTED = '"(?:[\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\t\\x20-\\x7e])*"'
const METRIC = new RegExp(
  `[ \\t]*(${TOKEN})((?:[ \\t]*;[ \\t]*${TOKEN}[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED}))*)[ \\t]*(,|$)`,
  'y'
)
const PARAM = new RegExp(`;[ \\t]*(${TOKEN})[ \\t]*=[ \\t]*(${TOKEN}|${QUOTED})`, 'g')

/** Throws when `value` is not a valid Server-Timing field value. */
export function parseServerTiming(value: string): ParsedMetric[] {
  const out: ParsedMetric[] = []
  METRIC.lastIndex = 0
  while (METRIC.lastIndex < value.length) {
    const at = METRIC.lastIndex
    const m = METRIC.exec(value)
    if (m === null) throw new Error(`malformed Server-Timing at ${at}: ${JSON.stringify(value)}`)
    const metric: ParsedMetric = { name: m[1] as string, dur: undefined, desc: undefined }
    for (const p of (m[2] as string).matchAll(PARAM)) {
      const key = (p[1] as string).toLowerCase()
      let v = p[2] as string
      if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1')
      if (key === 'dur') metric.dur = Number(v)
      if (key === 'desc') metric.desc = v
    }
    out.push(metric)
    if (m[3] === '') break
  }
  return out
}

/** The metrics of a response's Server-Timing header (none when absent). */
export function metricsOf(header: string | string[] | null | undefined): ParsedMetric[] {
  if (header === undefined || header === null) return []
  return parseServerTiming(Array.isArray(header) ? header.join(', ') : header)
}

/** The metric called `name`, or a failing assertion's friendly undefined. */
export function find(metrics: ParsedMetric[], name: string): ParsedMetric | undefined {
  return metrics.find((m) => m.name === name)
}
