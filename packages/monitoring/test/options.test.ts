import { describe, expect, it } from 'vitest'
import { monitoring, setupClusterPrimary } from '../src/index.js'

describe('monitoring: option validation at start-up', () => {
  it('should reject each bad option with an error naming it', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['buckets', { buckets: [] }],
      ['buckets', { buckets: [0.1, 0.1] }],
      ['buckets', { buckets: [1, 0.5] }],
      ['buckets', { buckets: [-1, 1] }],
      ['buckets', { buckets: [0.1, Number.POSITIVE_INFINITY] }],
      ['buckets', { buckets: [0.1, '1'] }],
      ['buckets', { buckets: 0.1 }],
      ['buckets', { buckets: Array.from({ length: 101 }, (_, i) => i + 1) }],
      ['sizeBuckets', { sizeBuckets: [Number.NaN] }],
      ['sizeBuckets', { sizeBuckets: 'big' }],
      ['responseSize', { responseSize: 'yes' }],
      ['route', { route: '/users/:id' }],
      ['route', { route: true }],
      ['knownMethods', { knownMethods: 'GET' }],
      ['knownMethods', { knownMethods: ['GET', 'GET'] }],
      ['knownMethods', { knownMethods: ['GE T'] }],
      ['knownMethods', { knownMethods: [42] }],
      ['maxSeries', { maxSeries: 0 }],
      ['maxSeries', { maxSeries: 1.5 }],
      ['maxSeries', { maxSeries: 100_001 }],
      ['maxSeries', { maxSeries: '1000' }],
      ['defaultMetrics', { defaultMetrics: 'on' }],
      ['defaultMetrics.prefix', { defaultMetrics: { prefix: 'my-app' } }],
      ['defaultMetrics.labels', { defaultMetrics: { labels: { app: 1 } } }],
      ['defaultMetrics.labels', { defaultMetrics: { labels: { 'bad name': 'x' } } }],
      ['defaultMetrics.gcDurationBuckets', { defaultMetrics: { gcDurationBuckets: [2, 1] } }],
      [
        'defaultMetrics.eventLoopMonitoringPrecision',
        { defaultMetrics: { eventLoopMonitoringPrecision: 0 } },
      ],
      ['endpoints', { endpoints: '/metrics' }],
      ['endpoints.metrics', { endpoints: { metrics: 'metrics' } }],
      ['endpoints.metrics', { endpoints: { metrics: true } }],
      ['endpoints.metrics', { endpoints: { metrics: '/a/../metrics' } }],
      ['endpoints.metrics', { endpoints: { metrics: '/m%2Fx' } }],
      ['endpoints.stats', { endpoints: { stats: '/metrics' } }],
      ['endpoints.dashboard', { endpoints: { stats: false } }],
      ['countEndpoints', { countEndpoints: 1 }],
      ['checks', { checks: [() => 1] }],
      ['checks.db', { checks: { db: 'select 1' } }],
      ['checkTimeout', { checkTimeout: 0 }],
      ['checkTimeout', { checkTimeout: 60_001 }],
      ['window', { window: 5 }],
      ['window', { window: 1e6 }],
      ['cluster', { cluster: 'auto' }],
      ['cluster.timeout', { cluster: { timeout: -1 } }],
      ['clock', { clock: 42 }],
      ['registry', { registry: {} }],
      ['registry', { registry: 'global' }],
    ]
    for (const [name, options] of cases) {
      const escaped = name.replace(/\./g, '\\.')
      expect(() => monitoring(options as never), `${name}: ${JSON.stringify(options)}`).toThrow(
        new RegExp(`^\\[@shallot/monitoring\\] option "${escaped}" must be`)
      )
    }
  })

  it('should reject unknown options, with a hint for express-prom-bundle ones', () => {
    expect(() => monitoring({ includePath: true } as never)).toThrow(
      /^\[@shallot\/monitoring\] monitoring\(options\): unknown option "includePath" \(the raw path is never a label; use "route", e.g. normalizeRoute\)/
    )
    expect(() => monitoring({ metricsPath: '/m' } as never)).toThrow(
      /use "endpoints: \{ metrics: '\/path' \}"/
    )
    expect(() => monitoring({ bucket: [1] } as never)).toThrow(
      /unknown option "bucket" \(known: registry, buckets,/
    )
    expect(() => monitoring({ endpoints: { metric: '/m' } } as never)).toThrow(
      /option "endpoints": unknown option "metric"/
    )
    expect(() => monitoring({ cluster: { timeot: 1 } } as never)).toThrow(/unknown option "timeot"/)
    for (const bad of [null, 42, 'x', []]) {
      expect(() => monitoring(bad as never)).toThrow(
        /^\[@shallot\/monitoring\] monitoring\(options\): options must be an object/
      )
    }
  })

  it('should accept good options', () => {
    expect(() =>
      monitoring({
        buckets: [0, 0.1, 1],
        sizeBuckets: [10, 1000],
        responseSize: false,
        route: () => '/x',
        knownMethods: [],
        maxSeries: 1,
        defaultMetrics: {
          prefix: 'a_',
          labels: { app: 'x' },
          gcDurationBuckets: [0.1],
          eventLoopMonitoringPrecision: 20,
        },
        endpoints: {
          metrics: '/m',
          stats: '/s/',
          healthz: false,
          readyz: '/ready',
          dashboard: '/',
        },
        countEndpoints: true,
        checks: { a: () => Promise.resolve() },
        checkTimeout: 60_000,
        window: 10,
        cluster: { timeout: 100 },
        clock: () => 0,
      })
    ).not.toThrow()
    expect(() =>
      monitoring({ endpoints: true, cluster: false, defaultMetrics: false })
    ).not.toThrow()
  })

  it('should check the paths given to monitor.endpoints()', () => {
    const mon = monitoring({ defaultMetrics: false })
    expect(() => mon.endpoints({ metrics: 'x' })).toThrow(
      /option "endpoints\.metrics" must be a path starting with "\/"/
    )
    expect(() => mon.endpoints({ healthz: '/a', readyz: '/a' })).toThrow(
      /option "endpoints\.readyz" must be a path not already used/
    )
  })

  it('should refuse setupClusterPrimary() options and a call outside the primary', () => {
    expect(() => setupClusterPrimary({ timeout: 0 })).toThrow(
      /^\[@shallot\/monitoring\] option "timeout" must be/
    )
    expect(() => setupClusterPrimary({ wait: 1 } as never)).toThrow(/unknown option "wait"/)
  })
})
