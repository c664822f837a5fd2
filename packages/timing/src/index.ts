/**
 * @shallot/timing: `X-Response-Time` and W3C `Server-Timing` for Node request listeners,
 * with marks any layer or the application can add, and per-layer timing from the stack.
 *
 * @module
 */
export {
  getTiming,
  type LayerSpan,
  type MetricInit,
  type Timing,
  type TimingEntry,
} from './recorder.js'
export { type ResponseTimeOptions, responseTime } from './response-time.js'
export {
  type ServerTimingExpose,
  type ServerTimingOptions,
  serverTiming,
  type TimingOptions,
  timing,
} from './server-timing.js'
export { type TraceLayersOptions, traceLayers } from './trace.js'
