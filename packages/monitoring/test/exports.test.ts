import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'

describe('@shallot/monitoring public API', () => {
  it('should export exactly these names (review any change here)', () => {
    expect(Object.keys(api).sort()).toMatchInlineSnapshot(`
      [
        "DEFAULT_DURATION_BUCKETS",
        "DEFAULT_SIZE_BUCKETS",
        "ID_PLACEHOLDER",
        "KNOWN_METHODS",
        "METRIC_NAMES",
        "OTHER_METHOD",
        "OVERFLOW",
        "UNMATCHED",
        "isMonitoringEndpoint",
        "monitoring",
        "normalizePath",
        "normalizeRoute",
        "setupClusterPrimary",
      ]
    `)
  })

  it('should name the handlers, so the stack and stack traces can name the layers', () => {
    const next = () => {}
    const mon = api.monitoring({ defaultMetrics: false })
    expect(mon(next).name).toBe('monitoring')
    expect(api.monitoring({ defaultMetrics: false, endpoints: false })(next).name).toBe(
      'monitoring'
    )
    expect(mon.endpoints()(next).name).toBe('monitoringEndpoints')
    expect(Object.keys(mon.handlers).sort()).toEqual([
      'dashboard',
      'healthz',
      'metrics',
      'readyz',
      'stats',
    ])
  })

  it('should keep the metric names of the README', () => {
    expect(api.METRIC_NAMES).toEqual({
      requests: 'http_server_requests_total',
      duration: 'http_server_request_duration_seconds',
      ttfb: 'http_server_time_to_first_byte_seconds',
      size: 'http_server_response_body_size_bytes',
      active: 'http_server_active_requests',
      aborted: 'http_server_aborted_requests_total',
      overflow: 'http_server_series_overflow_total',
    })
  })
})
