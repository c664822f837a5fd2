import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'

describe('@shallot/logging public API', () => {
  it('should export exactly these names (review any change here)', () => {
    expect(Object.keys(api).sort()).toMatchInlineSnapshot(`
      [
        "getRequestId",
        "getTraceId",
        "logging",
      ]
    `)
  })

  it('should name the handler, so the stack and stack traces can name the layer', () => {
    const next = () => {}
    expect(api.logging({ sink: () => {} })(next).name).toBe('logging')
  })
})
