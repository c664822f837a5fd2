import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'

describe('@shallot/static public API', () => {
  it('should export exactly these names (review any change here)', () => {
    expect(Object.keys(api).sort()).toMatchInlineSnapshot(`
      [
        "serveStatic",
      ]
    `)
  })
})
