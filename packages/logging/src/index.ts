/**
 * @shallot/logging: access logs for Node request listeners. morgan's formats byte for byte
 * or JSON lines; a stream, a function or a pino-style logger as the sink; request ids from
 * `X-Request-Id` and W3C `traceparent`; secrets redacted and every value escaped.
 *
 * @module
 */
export type { LogLevel } from './entry.js'
export type { FormatName } from './formats.js'
export { getRequestId, getTraceId } from './ids.js'
export { type LoggingMiddleware, logging } from './logging.js'
export type {
  FormatFunction,
  LoggingFormat,
  LoggingOptions,
  LoggingSink,
  RedactionList,
  RequestIdOptions,
} from './options.js'
export type { LogRecord } from './record.js'
export type { LoggerLike, LoggingStats, LogMethod, LogStream, SinkFunction } from './sink.js'
export type { TokenFunction } from './tokens.js'
