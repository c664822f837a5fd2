// The body of the compression-* scenarios: a fixed JSON document of exactly 20 KiB (20480
// bytes), an array of records like an API's list response. Deterministic: the same bytes
// in every run and every server, so compressed sizes can be compared between runs.

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken']
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Thompson']
const ROLES = ['admin', 'editor', 'viewer']

/** Builds the document: records while they fit, then one record padding it to `size`. */
function build(size) {
  const items = []
  const length = (list) => Buffer.byteLength(JSON.stringify([...list, { pad: '' }]))
  for (let i = 0; ; i++) {
    const first = FIRST[i % FIRST.length]
    const last = LAST[(i * 3) % LAST.length]
    const item = {
      id: i + 1,
      name: `${first} ${last}`,
      email: `${first.toLowerCase()}.${last.toLowerCase()}${i}@example.com`,
      role: ROLES[i % ROLES.length],
      active: i % 4 !== 0,
      score: (i * 37) % 101,
      createdAt: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString(),
    }
    if (length([...items, item]) > size) break
    items.push(item)
  }
  return JSON.stringify([...items, { pad: '.'.repeat(size - length(items)) }])
}

/** The response body, as bytes. */
export const BODY = Buffer.from(build(20 * 1024))

/** Its content type. */
export const TYPE = 'application/json; charset=utf-8'

/**
 * The handler every compression-* server serves: the body with its type, given whole to
 * `res.end` (so the size is known to the compression layer).
 *
 * @param {import('node:http').IncomingMessage} _req
 * @param {import('node:http').ServerResponse} res
 */
export function jsonHandler(_req, res) {
  res.setHeader('content-type', TYPE)
  res.end(BODY)
}

/** The request of the compressed scenarios: what a browser's fetch sends, gzip only. */
export const gzipRequest = { method: 'GET', headers: { 'accept-encoding': 'gzip' } }
