/*
 * The text exposition formats, written from prom-client's `getMetricsAsJSON()` output
 * (our own rendering, not `registry.metrics()`: that one is fixed to the registry's content
 * type, and in OpenMetrics mode it renames counters in place, dropping `_total` from later
 * Prometheus scrapes).
 *
 * Prometheus text format 0.0.4:
 *   https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 * OpenMetrics 1.0:
 *   https://github.com/prometheus/OpenMetrics/blob/v1.0.0/specification/OpenMetrics.md
 */
import { qualityValues } from '@shallot/stack'
import type { MetricJSON } from './series.js'

/** @internal */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
/** @internal */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

/**
 * Whether the client asks for OpenMetrics: `application/openmetrics-text` has a q-value > 0
 * that is not lower than that of `text/plain` (or any wildcard). Prometheus sends
 * `application/openmetrics-text;version=1.0.0,...,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`.
 * @internal
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined || !/openmetrics/i.test(accept)) return false
  let qOpen = 0
  let qText = 0
  for (const [type, q] of qualityValues(accept)) {
    if (type === 'application/openmetrics-text') {
      if (q > qOpen) qOpen = q
    } else if (type === 'text/plain' || type === 'text/*' || type === '*/*') {
      if (q > qText) qText = q
    }
  }
  return qOpen > 0 && qOpen >= qText
}

const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
const escapeLabel = (s: string): string =>
  s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}

/** OpenMetrics wants `le` and `quantile` as canonical floats: `1.0`, not `1`. */
function canonicalFloat(value: string | number): string {
  if (typeof value === 'string') return value
  if (Number.isInteger(value)) return `${value}.0`
  return formatValue(value)
}

function formatLabels(labels: Readonly<Record<string, string | number>>, open: boolean): string {
  let out = ''
  let last = ''
  for (const name of Object.keys(labels)) {
    const raw = labels[name] as string | number
    if (name === 'le' || name === 'quantile') {
      // Put the bucket/quantile label last, as Prometheus itself does.
      last = `${name}="${open ? canonicalFloat(raw) : String(raw)}"`
      continue
    }
    out += `${out === '' ? '' : ','}${name}="${escapeLabel(String(raw))}"`
  }
  if (last !== '') out += `${out === '' ? '' : ','}${last}`
  return out === '' ? '' : `{${out}}`
}

const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary'])

/** Renders metric families as Prometheus text (0.0.4) or OpenMetrics (1.0.0). @internal */
export function formatMetrics(metrics: readonly MetricJSON[], openMetrics: boolean): string {
  const lines: string[] = []
  for (const metric of metrics) {
    const type = TYPES.has(metric.type) ? metric.type : openMetrics ? 'unknown' : 'untyped'
    const counter = type === 'counter'
    const family = openMetrics && counter ? metric.name.replace(/_total$/, '') : metric.name
    const help = openMetrics ? escapeLabel(metric.help) : escapeHelp(metric.help)
    lines.push(`# HELP ${family} ${help}`, `# TYPE ${family} ${type}`)
    for (const v of metric.values) {
      let sample = v.metricName ?? metric.name
      if (openMetrics && counter && v.metricName === undefined) sample = `${family}_total`
      lines.push(`${sample}${formatLabels(v.labels, openMetrics)} ${formatValue(v.value)}`)
    }
  }
  if (openMetrics) lines.push('# EOF')
  return `${lines.join('\n')}\n`
}
