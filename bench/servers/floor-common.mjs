// Shared by the floor servers that write an access log by hand (floor-logging.mjs,
// full-floor.mjs): the `combined` line with the fewest steps, batched to a file the way
// @shallot/logging's stream sink batches (10 ms or 64 KiB, one write in flight).
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
 * A function that appends the `combined` line of a finished exchange to `file`.
 *
 * @param {string} file
 * @returns {(res: import('node:http').ServerResponse) => void}
 */
export function combinedLog(file) {
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
      if (pending !== '') write()
    })
  }
  return (res) => {
    const req = res.req
    const h = req.headers
    const length = res.getHeader('content-length')
    pending += `${req.socket.remoteAddress} - - [${clf(Date.now())}] "${req.method} ${esc(req.url)} HTTP/${req.httpVersion}" ${res.statusCode} ${length ?? '-'} "${esc(h.referer)}" "${esc(h['user-agent'])}"\n`
    if (pending.length >= 65536) write()
    else if (!timer) {
      timer = true
      setTimeout(write, 10).unref()
    }
  }
}
