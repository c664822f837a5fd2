import http from 'node:http'

/**
 * Serves `listener` with bare `node:http` on 127.0.0.1, on the port given by the `PORT`
 * environment variable (`0`, the default, lets the OS pick one). Prints one JSON line
 * `{"event":"listening","name":…,"port":…,"pid":…}` on stdout once it accepts connections.
 *
 * Exits on SIGTERM and SIGINT. When `SHALLOT_BENCH_WATCH_STDIN=1` (set by the harness), it
 * also exits when its stdin closes, so a server never outlives a harness that was killed
 * with SIGKILL.
 *
 * @param {string} name the scenario name, for the log line
 * @param {http.RequestListener} listener the request listener under test
 * @returns {http.Server}
 */
export function serve(name, listener) {
  const port = Number(process.env.PORT ?? 0)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`[bench] PORT must be an integer in 0..65535, got ${process.env.PORT}`)
  }
  const server = http.createServer(listener)
  server.listen(port, '127.0.0.1', () => {
    const address = /** @type {import('node:net').AddressInfo} */ (server.address())
    const line = { event: 'listening', name, port: address.port, pid: process.pid }
    process.stdout.write(`${JSON.stringify(line)}\n`)
  })
  const stop = () => process.exit(0)
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  if (process.env.SHALLOT_BENCH_WATCH_STDIN === '1') {
    process.stdin.on('end', stop)
    process.stdin.on('error', stop)
    process.stdin.resume()
  }
  return server
}
