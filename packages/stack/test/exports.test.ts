import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'
import { HttpError, isHttpError } from '../src/index.js'

describe('@shallot/stack public API', () => {
  it('should export exactly these names (review any change here)', () => {
    expect(Object.keys(api).sort()).toMatchInlineSnapshot(`
      [
        "HttpError",
        "appendVary",
        "beforePathCheck",
        "claimErrorReport",
        "countBodyBytes",
        "defaultOnError",
        "formatDecimal",
        "fromConnect",
        "getBasePath",
        "getBodyBytes",
        "getClient",
        "getError",
        "getOriginalUrl",
        "getPath",
        "isErrorReportClaimed",
        "isHttpError",
        "mount",
        "onFinished",
        "onHeaders",
        "pathMatcher",
        "qualityValues",
        "stack",
        "toConnect",
        "toKoa",
        "trustProxy",
        "when",
      ]
    `)
  })
})

describe('HttpError', () => {
  it('should carry status, statusCode, expose and headers', () => {
    const e = new HttpError(404)
    expect(e).toBeInstanceOf(Error)
    expect(e.message).toBe('Not Found')
    expect(e.status).toBe(404)
    expect(e.statusCode).toBe(404)
    expect(e.expose).toBe(true)
    expect(new HttpError(500).expose).toBe(false)
    expect(new HttpError(400, 'x', { cause: 'y' }).cause).toBe('y')
  })

  it('should refuse a status outside 400-599', () => {
    for (const bad of [200, 399, 600, 404.5, Number.NaN]) {
      expect(() => new HttpError(bad)).toThrow(/status must be an integer from 400 to 599/)
    }
  })

  it('should recognise http-errors style errors', () => {
    expect(isHttpError(new HttpError(400))).toBe(true)
    expect(isHttpError(Object.assign(new Error('x'), { statusCode: 413 }))).toBe(true)
    expect(isHttpError(Object.assign(new Error('x'), { status: 200 }))).toBe(false)
    expect(isHttpError({ status: 404 })).toBe(false)
  })
})
