// The floor of an access log in the combined format: bare node:http that listens for the
// response's 'finish', builds the line with one template (the date formatted once per second,
// the client's fields checked for characters to escape with one test each) and appends it to
// a string written to a file in batches (10 ms or 64 KiB, one write in flight), as
// @shallot/logging's stream sink does. No request id, no error reporting, no redaction, no
// backpressure accounting, no options: what any such logger pays at least.
import { createWriteStream, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { handler } from './handler.mjs'
import { serve } from './serve.mjs'

const file = join(tmpdir(), `shallot-bench-floor-logging-${process.pid}.log`)
process.on('exit', () => rmSync(file, { force: true }))
const out = createWriteStream(file)

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const two = (n) => (n < 10 ? `0${n}` : `${n}`)
let second = -1
let date = ''
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
const esc = (v) => (v === undefined ? '-' : UNSAFE.test(v) ? JSON.stringify(v).slice(1, -1) : v)

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
function onFinish() {
  const req = this.req
  const h = req.headers
  const length = this.getHeader('content-length')
  pending += `${req.socket.remoteAddress} - - [${clf(Date.now())}] "${req.method} ${esc(req.url)} HTTP/${req.httpVersion}" ${this.statusCode} ${length ?? '-'} "${esc(h.referer)}" "${esc(h['user-agent'])}"\n`
  if (pending.length >= 65536) write()
  else if (!timer) {
    timer = true
    setTimeout(write, 10).unref()
  }
}

serve('floor-logging', (req, res) => {
  res.once('finish', onFinish)
  handler(req, res)
})
