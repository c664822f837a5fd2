import { describe, expect, it } from 'vitest'
import { type LoggingOptions, logging } from '../src/index.js'
import { MemoryStream } from './helpers.js'

function rejects(options: unknown, message: RegExp): void {
  expect(() => logging(options as LoggingOptions)).toThrow(TypeError)
  expect(() => logging(options as LoggingOptions)).toThrow(message)
}

describe('logging: options are checked at start-up', () => {
  it('should build with no options and with every option set', () => {
    expect(typeof logging()).toBe('function')
    const log = logging({
      format: ':method :url :user',
      sink: new MemoryStream(),
      immediate: false,
      skip: () => false,
      requestId: { header: 'X-Correlation-Id', trustIncoming: false, generate: () => 'id' },
      traceparent: false,
      trustProxy: { trust: ['loopback'], header: 'forwarded' },
      redact: { headers: ['x-secret'], query: ['state'] },
      allow: { headers: ['cookie'], query: ['code'] },
      errors: true,
      bufferSize: 1000,
      flushInterval: 0,
      color: false,
      tokens: { user: () => 'u' },
    })
    expect(typeof log).toBe('function')
    expect(typeof log.flush).toBe('function')
    expect(typeof log.close).toBe('function')
    expect(log.stats()).toEqual({ written: 0, dropped: 0, buffered: 0, errors: 0 })
  })

  it('should reject options that are not an object', () => {
    for (const bad of [null, 'combined', 42, [], () => {}]) {
      rejects(bad, /^\[@shallot\/logging\] options must be an object/)
    }
    rejects('tiny', /morgan's logging\(format\) is logging\(\{ format: "tiny" \}\)/)
  })

  it('should reject unknown options, pointing at what the peers call them', () => {
    rejects({ stream: process.stdout }, /unknown option "stream": use "sink"/)
    rejects({ genReqId: () => 'x' }, /unknown option "genReqId": use "requestId: \{ generate \}"/)
    rejects({ autoLogging: false }, /unknown option "autoLogging": use "skip"/)
    rejects({ buffer: true }, /unknown option "buffer"/)
    rejects({ colour: true }, /unknown option "colour": use "color"/)
    rejects({ formatt: 'json' }, /unknown option "formatt" \(known: format, sink/)
  })

  it('should reject a bad format', () => {
    const format = /^\[@shallot\/logging\] option "format" /
    for (const bad of ['jsonl', 'apache', '', 42, {}, [], true, null])
      rejects({ format: bad }, format)
    rejects(
      { format: 'jsn' },
      /must be one of combined, common, short, tiny, dev, json, a format string/
    )
    rejects({ format: ':method :bogus' }, /option "format" has an unknown token ":bogus"/)
  })

  it('should reject a bad sink', () => {
    const sink = /^\[@shallot\/logging\] option "sink" must be a writable stream/
    for (const bad of [null, 'stdout', 42, {}, { write: () => true }, { info: () => {} }]) {
      rejects({ sink: bad }, sink)
    }
  })

  it('should reject bad booleans', () => {
    for (const name of ['immediate', 'traceparent', 'errors', 'color']) {
      for (const bad of ['yes', 1, null]) {
        rejects({ [name]: bad }, new RegExp(`option "${name}" must be a boolean`))
      }
    }
  })

  it('should reject errors: true with immediate: true', () => {
    rejects(
      { immediate: true, errors: true },
      /option "errors" cannot be true with "immediate": true/
    )
    expect(typeof logging({ immediate: true, errors: false })).toBe('function')
  })

  it('should reject a bad skip', () => {
    for (const bad of [true, 'x', {}]) rejects({ skip: bad }, /option "skip" must be a function/)
  })

  it('should reject a bad requestId', () => {
    for (const bad of ['x', 1, null, []])
      rejects({ requestId: bad }, /option "requestId" must be a boolean or an object/)
    rejects({ requestId: { name: 'x' } }, /option "requestId" has an unknown key "name"/)
    for (const bad of ['', 'X Request', 'x:y', 42]) {
      rejects({ requestId: { header: bad } }, /option "requestId.header" must be a header name/)
    }
    rejects(
      { requestId: { trustIncoming: 'no' } },
      /option "requestId.trustIncoming" must be a boolean/
    )
    rejects({ requestId: { generate: 'uuid' } }, /option "requestId.generate" must be a function/)
  })

  it('should reject a bad trustProxy, with the reason the stack gives', () => {
    rejects(
      { trustProxy: 'not-an-ip' },
      /option "trustProxy" is not valid for trustProxy\(\): .*"not-an-ip", which is not an IP address/
    )
    rejects({ trustProxy: -1 }, /option "trustProxy" is not valid .*non-negative integer/)
    rejects({ trustProxy: ['10.0.0.0/33'] }, /option "trustProxy" is not valid/)
    rejects(
      { trustProxy: { trust: 1, header: 'x-real-ip' } },
      /option "trustProxy" is not valid .*"header"/
    )
    rejects({ trustProxy: {} }, /option "trustProxy" is not valid/)
  })

  it('should reject bad redact and allow lists', () => {
    for (const name of ['redact', 'allow']) {
      rejects(
        { [name]: ['authorization'] },
        new RegExp(`option "${name}" must be an object .*pino's redact paths do not apply`)
      )
      rejects({ [name]: 'cookie' }, new RegExp(`option "${name}" must be an object`))
      rejects(
        { [name]: { cookies: [] } },
        new RegExp(`option "${name}" has an unknown key "cookies"`)
      )
      rejects(
        { [name]: { headers: 'cookie' } },
        new RegExp(`option "${name}.headers" must be an array`)
      )
      rejects({ [name]: { query: [''] } }, new RegExp(`option "${name}.query" must hold names`))
      rejects({ [name]: { query: ['a b'] } }, new RegExp(`option "${name}.query" must hold names`))
      rejects({ [name]: { headers: [42] } }, new RegExp(`option "${name}.headers" must hold names`))
    }
  })

  it('should reject a bad bufferSize', () => {
    for (const bad of [-1, 1.5, '1000', Number.POSITIVE_INFINITY, Number.NaN, null]) {
      rejects({ bufferSize: bad }, /option "bufferSize" must be a non-negative integer/)
    }
  })

  it('should reject a bad flushInterval', () => {
    for (const bad of [-1, 0.5, 60_001, '10', null]) {
      rejects({ flushInterval: bad }, /option "flushInterval" must be an integer from 0 to 60000/)
    }
  })

  it('should reject bad tokens', () => {
    rejects({ tokens: [] }, /option "tokens" must be an object/)
    rejects({ tokens: null }, /option "tokens" must be an object/)
    rejects({ tokens: { user: 'x' } }, /option "tokens" has ":user", which is not a function/)
    rejects({ tokens: { u: () => 'x' } }, /option "tokens" has "u": a token name is two or more/)
    rejects({ tokens: { 'a b': () => 'x' } }, /option "tokens" has "a b"/)
  })
})
