import type { LayerTracer } from '@shallot/stack'
import { MAX_NAME_LENGTH, TOKEN, toMetricName } from './format.js'
import { badOption, checkOptionsObject } from './options.js'
import { Span, spansOf } from './recorder.js'

/** Options of {@link traceLayers}. */
export interface TraceLayersOptions {
  /**
   * Prepended to each layer's name to make its metric name (`layer.cors`). Token characters
   * only, up to 32 of them; may be empty.
   *
   * @default 'layer.'
   */
  prefix?: string
}

/** Most spans kept per request: a stack re-entered in a loop cannot grow memory without bound. */
const MAX_SPANS = 1000
/** Most distinct layer names remembered (their metric names are computed once). */
const MAX_CACHED_NAMES = 1000

/**
 * A tracer for the stack's `trace` option that shows every layer of the stack as a
 * `Server-Timing` entry, `layer.<name>;dur=<ms>`, on responses that a `serverTiming()` or
 * `timing()` layer answers:
 *
 * ```ts
 * const app = stack({ trace: traceLayers() }, timing(), cors(corsOptions), auth(authOptions))(handler)
 * // Server-Timing: total;dur=2.3, layer.timing;dur=0.01, layer.cors;dur=0.02, layer.auth;dur=0.4, layer.app;dur=1.8
 * ```
 *
 * A layer's `dur` is the time from the request entering it to the request entering the next
 * layer inside: the work the layer did before handing on. The last layer entered (the
 * application, or a layer that answered by itself) counts until the head was written. These
 * are known when the head goes out, unlike inclusive spans, which usually end after it:
 * those are kept in `getTiming(req).layers` (`start`, `next`, `end`) for logs written once
 * the response is finished.
 *
 * Layer names come from the stack (the middleware's or its handler's function name, else
 * `layer<index>`; the innermost handler is `app`); characters that are not allowed in a
 * metric name become `_`. Entries count towards `serverTiming`'s `limit`.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/timing#tracelayersoptions
 */
export function traceLayers(options?: TraceLayersOptions): LayerTracer {
  checkOptionsObject(options, 'traceLayers', ['prefix'])
  const prefix = options?.prefix ?? 'layer.'
  if (typeof prefix !== 'string' || prefix.length > 32 || (prefix !== '' && !TOKEN.test(prefix))) {
    badOption('prefix', 'a string of up to 32 token characters (letters, digits, .-_ ...)', prefix)
  }
  const names = new Map<string, string>()
  const metricName = (layer: string): string => {
    let name = names.get(layer)
    if (name === undefined) {
      name = prefix + toMetricName(String(layer), 'layer').slice(0, MAX_NAME_LENGTH - prefix.length)
      if (names.size < MAX_CACHED_NAMES) names.set(layer, name)
    }
    return name
  }
  return {
    enter(req, _res, layer, _index, time) {
      const spans = spansOf(req)
      if (spans.length >= MAX_SPANS) return
      for (let i = spans.length - 1; i >= 0; i--) {
        const span = spans[i] as Span
        if (span.entered) {
          if (span.next === undefined) span.next = time
          break
        }
      }
      spans.push(new Span(layer, metricName(layer), time, true))
    },
    exit(req, _res, layer, _index, start, end) {
      const spans = spansOf(req)
      for (let i = spans.length - 1; i >= 0; i--) {
        const span = spans[i] as Span
        if (span.start === start && span.layer === layer && span.end === undefined) {
          span.end = end
          return
        }
      }
      // Exit without a matching enter: keep it for getTiming(req).layers, not for the header.
      if (spans.length >= MAX_SPANS) return
      const span = new Span(layer, metricName(layer), start, false)
      span.end = end
      spans.push(span)
    },
  }
}
