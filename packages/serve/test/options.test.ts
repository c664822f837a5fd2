import { availableParallelism } from 'node:os'
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'
import { type ServeOptions, serve } from '../src/index.js'
import { resolveOptions } from '../src/options.js'

const bad = (options: unknown, re: RegExp) =>
  expect(() => serve(() => {}, options as ServeOptions)).toThrow(re)

describe('@shallot/serve public API', () => {
  it('should export exactly these names (review any change here)', () => {
    expect(Object.keys(api).sort()).toMatchInlineSnapshot(`
      [
        "ServeError",
        "serve",
      ]
    `)
  })
})

describe('serve: options', () => {
  it('should default to Node-plus-proxy-friendly timeouts and no workers', () => {
    const o = resolveOptions(undefined, {})
    expect(o).toMatchObject({
      port: 3000,
      host: undefined,
      workers: 0,
      keepAliveTimeout: 65_000,
      headersTimeout: 66_000,
      requestTimeout: 300_000,
      shutdownTimeout: 25_000,
      maxRequests: 0,
      maxRequestsJitter: 0,
      restartDelay: 100,
      maxRestartDelay: 15_000,
      maxRestarts: 10,
      minUptime: 5000,
      signals: true,
    })
    expect(o.headersTimeout).toBeGreaterThan(o.keepAliveTimeout)
  })

  it('should read PORT from the environment when port is not given', () => {
    expect(resolveOptions({}, { PORT: '8080' }).port).toBe(8080)
    expect(resolveOptions({}, { PORT: '0' }).port).toBe(0)
    expect(resolveOptions({}, { PORT: '' }).port).toBe(3000)
    expect(resolveOptions({ port: 9000 }, { PORT: '8080' }).port).toBe(9000)
    // A port given as an option wins, even over a bad PORT.
    expect(resolveOptions({ port: 9000 }, { PORT: 'nope' }).port).toBe(9000)
    for (const PORT of ['abc', '-1', '65536', '80.5', ' 80']) {
      expect(() => resolveOptions({}, { PORT })).toThrow(
        /\[@shallot\/serve\] environment variable PORT must be an integer from 0 to 65535/
      )
    }
  })

  it('should raise dependent defaults so they stay consistent', () => {
    const o = resolveOptions({ keepAliveTimeout: 120_000 }, {})
    expect(o.headersTimeout).toBe(121_000)
    expect(o.requestTimeout).toBe(300_000)
    const p = resolveOptions({ headersTimeout: 400_000 }, {})
    expect(p.requestTimeout).toBe(400_000)
    expect(resolveOptions({ restartDelay: 20_000 }, {}).maxRestartDelay).toBe(20_000)
    expect(resolveOptions({ keepAliveTimeout: 0, headersTimeout: 1000 }, {}).headersTimeout).toBe(
      1000
    )
  })

  it('should take workers: "auto" as one per CPU', () => {
    expect(resolveOptions({ workers: 'auto' }, {}).workers).toBe(availableParallelism())
  })

  it('should accept Infinity for maxRestarts', () => {
    expect(resolveOptions({ maxRestarts: Number.POSITIVE_INFINITY }, {}).maxRestarts).toBe(
      Number.POSITIVE_INFINITY
    )
  })

  it('should reject invalid values at start-up, naming the option', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ port: -1 }, /option "port" must be an integer from 0 to 65535, got -1/],
      [{ port: 65536 }, /option "port"/],
      [{ port: '8000' }, /option "port" .* got "8000"/],
      [{ port: 1.5 }, /option "port"/],
      [{ host: '' }, /option "host" must be an IP address or a host name, got ""/],
      [{ host: 'http://x' }, /option "host"/],
      [{ host: 'a b' }, /option "host"/],
      [{ host: 42 }, /option "host"/],
      [{ workers: -1 }, /option "workers" must be an integer from 0 to 1024, got -1/],
      [{ workers: 'all' }, /option "workers" must be an integer from 0 to 1024 or "auto"/],
      [{ workers: 2.5 }, /option "workers"/],
      [{ keepAliveTimeout: -1 }, /option "keepAliveTimeout" must be an integer number of/],
      [{ keepAliveTimeout: Number.NaN }, /option "keepAliveTimeout"/],
      [{ headersTimeout: 0 }, /option "headersTimeout"/],
      [
        { keepAliveTimeout: 10_000, headersTimeout: 10_000 },
        /option "headersTimeout" must be greater than "keepAliveTimeout" \(10000\), got 10000/,
      ],
      [{ headersTimeout: 60_000 }, /option "headersTimeout" must be greater than/],
      [
        { headersTimeout: 70_000, requestTimeout: 69_999 },
        /option "requestTimeout" must be 0 \(no limit\) or at least "headersTimeout" \(70000\)/,
      ],
      [{ requestTimeout: 3_000_000_000 }, /option "requestTimeout"/],
      [{ shutdownTimeout: -5 }, /option "shutdownTimeout"/],
      [{ shutdownTimeout: '1s' }, /option "shutdownTimeout"/],
      [{ maxRequests: -1 }, /option "maxRequests"/],
      [
        { maxRequests: 100 },
        /option "maxRequests" must be 0 when "workers" is 0 \(a single process cannot be replaced/,
      ],
      [{ workers: 2, maxRequests: 1.5 }, /option "maxRequests"/],
      [
        { workers: 2, maxRequestsJitter: 5 },
        /option "maxRequestsJitter" must be 0 when "maxRequests" is 0/,
      ],
      [{ restartDelay: -1 }, /option "restartDelay"/],
      [
        { restartDelay: 500, maxRestartDelay: 100 },
        /option "maxRestartDelay" must be at least "restartDelay" \(500\), got 100/,
      ],
      [{ maxRestarts: -1 }, /option "maxRestarts" must be a non-negative integer or Infinity/],
      [{ maxRestarts: 'many' }, /option "maxRestarts"/],
      [{ minUptime: 1.2 }, /option "minUptime"/],
      [{ signals: 'yes' }, /option "signals" must be a boolean, got "yes"/],
      [{ log: true }, /option "log" must be false or a function/],
      [{ log: console }, /option "log"/],
    ]
    for (const [options, re] of cases) {
      expect(() => resolveOptions(options as ServeOptions, {}), JSON.stringify(options)).toThrow(re)
      expect(() => resolveOptions(options as ServeOptions, {})).toThrow(/^\[@shallot\/serve\] /)
    }
  })

  it("should reject unknown options, with a hint for the peers' names", () => {
    bad({ bind: '0.0.0.0:80' }, /unknown option "bind" \(use "host" and "port"\)/)
    bad({ instances: 4 }, /unknown option "instances" \(use "workers"\)/)
    bad({ graceful_timeout: 30 }, /unknown option "graceful_timeout" \(use "shutdownTimeout"\)/)
    bad({ timeout: 30 }, /unknown option "timeout" \(use "requestTimeout"/)
    bad({ wrokers: 2 }, /unknown option "wrokers" \(known: port, host, workers/)
  })

  it('should reject a bad options argument and a bad app', () => {
    bad(42, /serve\(app, options\): options must be an object, got 42/)
    bad([], /options must be an object, got an array/)
    bad(null, /options must be an object, got null/)
    expect(() => serve(42 as never)).toThrow(
      /\[@shallot\/serve\] serve\(app\): app must be a request handler \(req, res\), a module path or a file: URL, got 42/
    )
    expect(() => serve({} as never)).toThrow(/serve\(app\): app must be/)
    expect(() => serve(new URL('https://example.com/app.js'))).toThrow(
      /serve\(app\): a module URL must be a file: URL, got "https:\/\/example.com\/app.js"/
    )
    expect(() => serve('')).toThrow(/the module path is empty/)
  })
})
