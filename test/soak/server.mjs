// The server side of the soak, run by soak.mjs as a child process (node --expose-gc): the
// demo app as examples/demo/src/server.ts builds it (createApp: timing, monitoring,
// compression, cors, sessions in the default bounded MemoryStore, static files under
// /static, the API key on /api) with the access log in `combined` format written to the file
// SOAK_LOG_FILE. It answers soak.mjs over IPC:
//   { type: 'memory' }  -> process.memoryUsage() after two full collections
//   { type: 'stop' }    -> closes the server, flushes and closes the log, sends the log's
//                          stats, and exits
import { createWriteStream } from 'node:fs'
import { createServer } from 'node:http'
import { createApp } from '@shallot/example-demo/dist/app.js'
import { logging } from '@shallot/logging'

const file = process.env.SOAK_LOG_FILE
if (!file || typeof process.send !== 'function' || typeof globalThis.gc !== 'function') {
  console.error('server.mjs is run by soak.mjs (IPC, SOAK_LOG_FILE, --expose-gc)')
  process.exit(2)
}

const accessLog = logging({ format: 'combined', sink: createWriteStream(file, { flags: 'a' }) })
const server = createServer(createApp({ accessLog, sessionSecret: 's'.repeat(32) }))

server.listen(0, '127.0.0.1', () => {
  process.send({ type: 'listening', port: server.address().port })
})

process.on('message', (message) => {
  if (message.type === 'memory') {
    globalThis.gc()
    globalThis.gc()
    process.send({ type: 'memory', memory: process.memoryUsage() })
  } else if (message.type === 'stop') {
    server.close(async () => {
      await accessLog.close()
      process.send({ type: 'stopped', log: accessLog.stats() }, () => process.exit(0))
    })
    server.closeIdleConnections()
  }
})
// the driver went away: do not outlive it
process.on('disconnect', () => process.exit(1))
