import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'

describe('@shallot/timing public API', () => {
  it('should export exactly these names (review any change here)', () => {
    expect(Object.keys(api).sort()).toMatchInlineSnapshot(`
      [
        "getTiming",
        "responseTime",
        "serverTiming",
        "timing",
        "traceLayers",
      ]
    `)
  })

  it('should name the handlers, so the stack and stack traces can name the layers', () => {
    const next = () => {}
    expect(api.responseTime()(next).name).toBe('responseTime')
    expect(api.serverTiming()(next).name).toBe('serverTiming')
    expect(api.timing()(next).name).toBe('timing')
  })
})
