import { afterEach, describe, expect, it, vi } from 'vitest'
import { type CorsOptions, cors } from '../src/index.js'

function rejects(options: unknown, message: RegExp): void {
  expect(() => cors(options as CorsOptions)).toThrow(TypeError)
  expect(() => cors(options as CorsOptions)).toThrow(message)
}

describe('cors: options are checked at start-up', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('should build with no options and with every option set', () => {
    expect(typeof cors()).toBe('function')
    expect(
      typeof cors({
        origin: ['https://a.example', 'https://*.b.example', /^https:\/\/c\.example$/],
        allowNullOrigin: true,
        credentials: true,
        methods: ['GET', 'POST'],
        allowedHeaders: ['Content-Type'],
        exposedHeaders: ['X-Id'],
        maxAge: 600,
        privateNetwork: true,
        preflightContinue: false,
        optionsSuccessStatus: 200,
        strict: true,
        onRefused: () => {},
      })
    ).toBe('function')
  })

  it('should reject options that are not an object', () => {
    for (const bad of [null, 'x', 42, []])
      rejects(bad, /\[@shallot\/cors\] options must be an object/)
  })

  it('should reject unknown options, pointing at the name used by the peers', () => {
    rejects(
      { allowHeaders: ['x'] },
      /unknown option "allowHeaders": did you mean "allowedHeaders"\?/
    )
    rejects({ exposeHeaders: ['x'] }, /did you mean "exposedHeaders"/)
    rejects({ allowMethods: ['GET'] }, /did you mean "methods"/)
    rejects({ privateNetworkAccess: true }, /did you mean "privateNetwork"/)
    rejects({ colour: 'red' }, /unknown option "colour"$/)
  })

  it('should reject an invalid origin', () => {
    const origin = /\[@shallot\/cors\] option "origin"/
    for (const bad of [42, {}, [1], [null], true, false, []]) rejects({ origin: bad }, origin)
    rejects({ origin: true }, /for "reflect any origin" use '\*'/)
    rejects({ origin: [] }, /is an empty list/)
    rejects({ origin: ['*', 'https://a.example'] }, /'\*' cannot be part of a list/)
  })

  it('should reject configured origins with a path, a trailing slash or no scheme', () => {
    rejects(
      { origin: 'https://a.example/' },
      /option "origin" has "https:\/\/a.example\/", which has a trailing slash: .*write "https:\/\/a.example"/
    )
    rejects({ origin: ['https://a.example/api'] }, /has a path, query or fragment/)
    rejects({ origin: 'https://a.example?x=1' }, /has a path, query or fragment/)
    rejects({ origin: 'https://a.example#x' }, /has a path, query or fragment/)
    rejects({ origin: 'a.example' }, /has no scheme/)
    rejects({ origin: 'localhost:3000' }, /has no scheme/)
    rejects({ origin: 'https://user@a.example' }, /has user info/)
    rejects({ origin: ' https://a.example' }, /surrounding whitespace/)
    rejects({ origin: 'https://a b.example' }, /is not a valid origin/)
    rejects({ origin: 'file://' }, /has no host|is not a valid origin/)
  })

  it('should refuse null unless named with allowNullOrigin', () => {
    rejects(
      { origin: ['https://a.example', 'null'] },
      /must not list "null".*allowNullOrigin: true/
    )
    rejects({ origin: 'null' }, /allowNullOrigin/)
  })

  it('should reject wildcards other than leading labels', () => {
    for (const bad of [
      'https://a.*.example',
      'https://*example.com',
      '*.example.com',
      'https://*',
      'https://*.*.example.com',
      'https://*.example.com:*',
      'https://*.example.com/',
    ]) {
      rejects({ origin: [bad] }, /option "origin" has .*, which/)
    }
    rejects({ origin: 'https://*.com' }, /is too broad/)
    rejects({ origin: 'https://*.127.0.0.1' }, /option "origin"/)
    expect(() => cors({ origin: 'http://*.localhost:3000' })).not.toThrow()
  })

  it('should reject booleans that are not booleans', () => {
    for (const name of [
      'credentials',
      'allowNullOrigin',
      'reflectAnyOriginWithCredentials',
      'privateNetwork',
      'preflightContinue',
      'strict',
    ]) {
      rejects({ [name]: 'yes' }, new RegExp(`option "${name}" must be a boolean, got "yes"`))
      rejects({ [name]: 1 }, new RegExp(`option "${name}" must be a boolean`))
    }
  })

  it('should reject invalid methods and header names', () => {
    rejects({ methods: 42 }, /option "methods" must be a string or an array of strings/)
    rejects({ methods: [] }, /option "methods" must list at least one method/)
    rejects(
      { methods: ['GET', 'BAD METHOD'] },
      /option "methods" contains "BAD METHOD", which is not a valid method name/
    )
    rejects({ methods: [1] }, /option "methods" must contain only strings/)
    rejects(
      { allowedHeaders: ['X-Ok', 'x bad'] },
      /option "allowedHeaders" contains "x bad", which is not a valid header name/
    )
    rejects({ allowedHeaders: ['X:Y'] }, /option "allowedHeaders"/)
    rejects({ allowedHeaders: [''] }, /option "allowedHeaders"/)
    rejects({ exposedHeaders: 'X-Ok, X\nBad' }, /option "exposedHeaders"/)
    rejects({ exposedHeaders: {} }, /option "exposedHeaders" must be a string or an array/)
  })

  it('should reject a bad maxAge', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '600', null]) {
      rejects(
        { maxAge: bad },
        /option "maxAge" must be a non-negative integer number of seconds, got/
      )
    }
    expect(() => cors({ maxAge: 0 })).not.toThrow()
  })

  it('should reject a bad optionsSuccessStatus', () => {
    for (const bad of [199, 300, 404, 204.5, '204']) {
      rejects(
        { optionsSuccessStatus: bad },
        /option "optionsSuccessStatus" must be an integer from 200 to 299/
      )
    }
  })

  it('should reject an onRefused that is not a function', () => {
    rejects({ onRefused: 'log' }, /option "onRefused" must be a function/)
  })

  it('should warn (not in production) about an unanchored RegExp', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    cors({ origin: /example\.com/ })
    expect(warn).toHaveBeenCalledTimes(1)
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/not anchored with \^ and \$/)
    cors({ origin: /^https:\/\/example\.com$/ })
    expect(warn).toHaveBeenCalledTimes(1)
  })
})
