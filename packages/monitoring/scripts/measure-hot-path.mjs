// Measures what recording one request costs, per metric update, with prom-client's own API
// (labels object each time; children from labels() cached per label combination) and with
// the preallocated series @shallot/monitoring records into. Run: node scripts/measure-hot-path.mjs
// Not a test and not shipped: the numbers are quoted in the README ("Decisions").
import { Counter, Histogram, Registry } from 'prom-client'

const N = 2_000_000
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
const METHODS = ['GET', 'POST', 'PUT', 'DELETE']
const STATUSES = [200, 201, 404, 500]
const ROUTES = ['/users/:id', '/orders', '/health', '/items/:id/parts']
const durations = Float64Array.from({ length: 4096 }, (_, i) => ((i * 7919) % 2000) / 1000)

function bench(name, fn) {
  for (let i = 0; i < N / 10; i++) fn(i) // warm-up
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) fn(i)
  const ns = Number(process.hrtime.bigint() - t0) / N
  console.log(`${name.padEnd(62)} ${ns.toFixed(1).padStart(7)} ns/request`)
  return ns
}

const labelNames = ['method', 'status_code', 'route']
function promMetrics() {
  const registers = [new Registry()]
  return {
    count: new Counter({ name: 'c', help: 'h', labelNames, registers }),
    duration: new Histogram({ name: 'd', help: 'h', labelNames, buckets: BUCKETS, registers }),
    ttfb: new Histogram({ name: 't', help: 'h', labelNames, buckets: BUCKETS, registers }),
  }
}

{
  const m = promMetrics()
  bench('prom-client, labels object per call (counter + 2 histograms)', (i) => {
    const labels = {
      method: METHODS[i & 3],
      status_code: String(STATUSES[(i >> 2) & 3]),
      route: ROUTES[(i >> 4) & 3],
    }
    const v = durations[i & 4095]
    m.count.inc(labels)
    m.duration.observe(labels, v)
    m.ttfb.observe(labels, v / 2)
  })
}

{
  const m = promMetrics()
  const cache = new Map()
  bench('prom-client, labels() children cached per combination', (i) => {
    const method = METHODS[i & 3]
    const status = STATUSES[(i >> 2) & 3]
    const route = ROUTES[(i >> 4) & 3]
    const key = `${method} ${status} ${route}`
    let c = cache.get(key)
    if (c === undefined) {
      const s = String(status)
      c = {
        count: m.count.labels(method, s, route),
        duration: m.duration.labels(method, s, route),
        ttfb: m.ttfb.labels(method, s, route),
      }
      cache.set(key, c)
    }
    const v = durations[i & 4095]
    c.count.inc()
    c.duration.observe(v)
    c.ttfb.observe(v / 2)
  })
}

{
  // What src/series.ts does: method index x status array x route map -> a series of typed arrays.
  const B = BUCKETS.length
  const table = METHODS.map(() => [])
  const find = (v) => {
    let i = 0
    while (i < B && v > BUCKETS[i]) i++
    return i
  }
  bench('own series: typed arrays, no allocation per request', (i) => {
    const mi = i & 3
    const status = STATUSES[(i >> 2) & 3]
    const route = ROUTES[(i >> 4) & 3]
    let byRoute = table[mi][status]
    if (byRoute === undefined) byRoute = table[mi][status] = new Map()
    let s = byRoute.get(route)
    if (s === undefined) {
      s = { count: 0, d: new Float64Array(B + 2), t: new Float64Array(B + 2) }
      byRoute.set(route, s)
    }
    const v = durations[i & 4095]
    s.count++
    s.d[find(v)]++
    s.d[B + 1] += v
    s.t[find(v / 2)]++
    s.t[B + 1] += v / 2
  })
}
