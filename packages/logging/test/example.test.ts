import { stack } from '@shallot/stack'
import { listen } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { logging } from '../src/index.js'

describe('logging: example', () => {
  it('should pass the request on', async () => {
    const server = await listen(
      stack(logging())((_req, res) => {
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
    expect(() => logging({ example: 42 as never })).toThrow(
      /\[@shallot\/logging\] option "example"/
    )
  })
})
