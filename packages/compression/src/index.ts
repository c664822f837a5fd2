/**
 * @shallot/compression: brotli, gzip and deflate compression of responses for Node request
 * listeners, over the `compression` package, with its gaps fixed (206, ETags, server-sent
 * events, HEAD, write/end callbacks).
 *
 * @module
 */
export { compression, defaultFilter, flush } from './layer.js'
export type { CompressionEncoding } from './negotiate.js'
export type { CompressionFilter, CompressionOptions } from './options.js'
