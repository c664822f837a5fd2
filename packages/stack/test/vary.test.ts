import { listen } from '@shallot/test-utils'
import { describe, expect, it } from 'vitest'
import { appendVary, type Handler } from '../src/index.js'

async function varyAfter(setup: Handler): Promise<string[]> {
  const server = await listen(async (req, res) => {
    await setup(req, res)
    res.end()
  })
  try {
    const res = await fetch(server.url)
    return res.headers.get('vary') === null ? [] : [res.headers.get('vary') as string]
  } finally {
    await server.close()
  }
}

describe('appendVary', () => {
  it('should set, merge without duplicates (case-insensitive), and accept lists', async () => {
    expect(await varyAfter((_q, res) => appendVary(res, 'Origin'))).toEqual(['Origin'])
    expect(
      await varyAfter((_q, res) => {
        res.setHeader('Vary', 'Accept-Encoding')
        appendVary(res, ['origin', 'Accept-Encoding'])
        appendVary(res, 'Origin, Cookie')
      })
    ).toEqual(['Accept-Encoding, origin, Cookie'])
  })

  it('should merge a Vary set as an array', async () => {
    expect(
      await varyAfter((_q, res) => {
        res.setHeader('Vary', ['Accept', 'Origin'])
        appendVary(res, 'origin')
      })
    ).toEqual(['Accept, Origin'])
  })

  it('should honour Vary: *', async () => {
    expect(
      await varyAfter((_q, res) => {
        res.setHeader('Vary', '*')
        appendVary(res, 'Origin')
      })
    ).toEqual(['*'])
    expect(
      await varyAfter((_q, res) => {
        res.setHeader('Vary', 'Origin')
        appendVary(res, '*')
        appendVary(res, 'Cookie')
      })
    ).toEqual(['*'])
  })

  it('should refuse a field that is not a token', async () => {
    const errors: string[] = []
    await varyAfter((_q, res) => {
      for (const bad of ['a b', 'x\r\nSet-Cookie: y', 'a:b']) {
        try {
          appendVary(res, bad)
        } catch (e) {
          errors.push((e as Error).message)
        }
      }
    })
    expect(errors).toHaveLength(3)
    expect(errors[0]).toMatch(/not a valid header field name/)
  })
})
