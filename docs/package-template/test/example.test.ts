import { stack } from '@shallot/stack'
import { listen } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { __name__ } from '../src/index.js'

describe('__name__: example', () => {
  it('should pass the request on', async () => {
    const server = await listen(
      stack(__name__())((_req, res) => {
        res.end('ok')
      })
    )
    try {
      expect(await (await fetch(server.url)).text()).toBe('ok')
    } finally {
      await server.close()
    }
  })

  it('should reject an invalid example option at build time', () => {
    expect(() => __name__({ example: 42 as never })).toThrow(
      /\[@shallot\/__name__\] option "example"/
    )
  })
})
