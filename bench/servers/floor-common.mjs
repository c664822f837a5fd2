// Shared by the floor servers that write an access log by hand (floor-logging*.mjs,
// full-floor.mjs): the `combined` and `json` lines with the fewest steps, batched to a file
// the way @shallot/logging's stream sink batches (10 ms or 64 KiB, one write in flight).
import { createWriteStream } from 'node:fs'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const two = (/** @type {number} */ n) => (n < 10 ? `0${n}` : `${n}`)
let second = -1
let date = ''

/** The CLF date of `ms`, formatted once a second. @param {number} ms */
function clf(ms) {
  const s = Math.floor(ms / 1000)
  if (s !== second) {
    const d = new Date(s * 1000)
    date = `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
    second = s
  }
  return date
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the characters a log line escapes
const UNSAFE = /[\u0000-\u001f\u007f-\u009f"\\]/
/** `-` for nothing; the value, escaped only when one test finds something to escape. */
const esc = (/** @type {string | undefined} */ v) =>
  v === undefined ? '-' : UNSAFE.test(v) ? JSON.stringify(v).slice(1, -1) : v

/**
 * Appends lines to `file` in batches (10 ms or 64 KiB, one write in flight).
 *
 * @param {string} file
 * @returns {(line: string) => void}
 */
function batched(file) {
  const out = createWriteStream(file)
  let pending = ''
  let busy = false
  let timer = false
  function write() {
    timer = false
    if (busy || pending === '') return
    busy = true
    const chunk = pending
    pending = ''
    out.write(chunk, () => {
      busy = false
      // As the stream sink: what came meanwhile waits for its own 10 ms, unless 64 KiB wait.
      if (pending.length >= 65536) write()
      else if (pending !== '' && !timer) {
        timer = true
        setTimeout(write, 10).unref()
      }
    })
  }
  return (line) => {
    pending += line
    if (pending.length >= 65536) write()
    else if (!timer) {
      timer = true
      setTimeout(write, 10).unref()
    }
  }
}

/**
 * A function that appends the `combined` line of a finished exchange to `file`.
 *
 * @param {string} file
 * @returns {(res: import('node:http').ServerResponse) => void}
 */
export function combinedLog(file) {
  const append = batched(file)
  return (res) => {
    const req = res.req
    const h = req.headers
    const length = res.getHeader('content-length')
    append(
      `${req.socket.remoteAddress} - - [${clf(Date.now())}] "${req.method} ${esc(req.url)} HTTP/${req.httpVersion}" ${res.statusCode} ${length ?? '-'} "${esc(h.referer)}" "${esc(h['user-agent'])}"\n`
    )
  }
}

/** A JSON string value: quoted, escaped by JSON.stringify only when one test finds a need. @param {string | undefined} v */
const json = (v) => (v === undefined ? 'null' : UNSAFE.test(v) ? JSON.stringify(v) : `"${v}"`)

/**
 * A function that appends the JSON line of a finished exchange to `file`: the fields of
 * @shallot/logging's `json` format, in one template. `start` is the request's
 * `performance.now()` at arrival, `bytes` its body bytes, `id` its request id.
 *
 * @param {string} file
 * @returns {(res: import('node:http').ServerResponse, start: number, bytes: number, id: string) => void}
 */
export function jsonLog(file) {
  const append = batched(file)
  return (res, start, bytes, id) => {
    const req = res.req
    const h = req.headers
    append(
      `{"time":"${new Date().toISOString()}","level":"info","method":"${req.method}","url":${json(req.url)},"status":${res.statusCode},"bytes":${bytes},"duration":${(performance.now() - start).toFixed(3)},"remoteAddress":"${req.socket.remoteAddress}","userAgent":${json(h['user-agent'])},"referrer":${json(h.referer)},"requestId":"${id}","aborted":false}\n`
    )
  }
}
