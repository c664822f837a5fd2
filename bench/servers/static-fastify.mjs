// fastify + @fastify/static, the same directory at `/`. Listens like serve.mjs does: on
// 127.0.0.1:$PORT, one JSON line `{"event":"listening",...}` on stdout, exits on SIGTERM,
// SIGINT, and (with SHALLOT_BENCH_WATCH_STDIN=1) when stdin closes.
import fastifyStatic from '@fastify/static'
import Fastify from 'fastify'
import { ensureStaticFixtures } from './static-fixtures.mjs'

const port = Number(process.env.PORT ?? 0)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  throw new RangeError(`[bench] PORT must be an integer in 0..65535, got ${process.env.PORT}`)
}

const app = Fastify({ logger: false })
await app.register(fastifyStatic, { root: ensureStaticFixtures() })
await app.listen({ port, host: '127.0.0.1' })

const address = app.server.address()
const line = { event: 'listening', name: 'static-fastify', port: address.port, pid: process.pid }
process.stdout.write(`${JSON.stringify(line)}\n`)

const stop = () => process.exit(0)
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
if (process.env.SHALLOT_BENCH_WATCH_STDIN === '1') {
  process.stdin.on('end', stop)
  process.stdin.on('error', stop)
  process.stdin.resume()
}
