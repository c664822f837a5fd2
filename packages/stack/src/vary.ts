import type { ServerResponse } from 'node:http'

// RFC 9110 §5.6.2 token
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * Adds field names to the response's `Vary` header (RFC 9110 §12.5.5): merged with what is
 * there (as a string, a list or several headers), compared case-insensitively, never
 * duplicated. `*` absorbs everything: once present, nothing else is added, and adding `*`
 * replaces the list. Throws a TypeError for a field name that is not a token.
 *
 * @example
 * ```ts
 * appendVary(res, 'Origin')
 * appendVary(res, ['Accept-Encoding', 'Origin'])
 * ```
 */
export function appendVary(res: ServerResponse, field: string | readonly string[]): void {
  // Fast path, the common case: one field name, and no Vary yet or a single other one.
  if (typeof field === 'string' && TOKEN.test(field)) {
    const current = res.getHeader('vary')
    if (current === undefined) {
      res.setHeader('vary', field)
      return
    }
    if (typeof current === 'string' && (current === '*' || TOKEN.test(current))) {
      if (current !== '*' && current.toLowerCase() !== field.toLowerCase()) {
        res.setHeader('vary', `${current}, ${field}`)
      }
      return
    }
  }
  const fields = typeof field === 'string' ? splitList(field) : field.flatMap(splitList)
  for (const f of fields) {
    if (f !== '*' && !TOKEN.test(f)) {
      throw new TypeError(
        `[@shallot/stack] appendVary: ${JSON.stringify(f)} is not a valid header field name`
      )
    }
  }
  if (fields.length === 0) return
  const current = res.getHeader('vary')
  const existing =
    current === undefined
      ? []
      : Array.isArray(current)
        ? current.flatMap((v) => splitList(String(v)))
        : splitList(String(current))
  if (existing.includes('*')) {
    if (existing.length !== 1 || Array.isArray(current)) res.setHeader('vary', '*')
    return
  }
  if (fields.includes('*')) {
    res.setHeader('vary', '*')
    return
  }
  const seen = new Set(existing.map((v) => v.toLowerCase()))
  const out = existing.slice()
  for (const f of fields) {
    const lower = f.toLowerCase()
    if (seen.has(lower)) continue
    seen.add(lower)
    out.push(f)
  }
  if (out.length === existing.length && !Array.isArray(current)) return
  res.setHeader('vary', out.join(', '))
}

function splitList(value: string): string[] {
  const out: string[] = []
  for (const part of value.split(',')) {
    const v = part.trim()
    if (v !== '') out.push(v)
  }
  return out
}
