import { describe, expect, it } from 'vitest'
import { cli, exitWithin, fixture, get } from './helpers.js'

const BASE = ['--port', '0', '--host', '127.0.0.1']

describe('shallot-serve: which export is served', () => {
  const cases: [string, string, string][] = [
    ['the default export', 'app.mjs', 'pid '],
    ['a named export "handler"', 'named-handler.mjs', 'from the named export "handler"'],
    ['a named export "app"', 'named-app.mjs', 'from the named export "app"'],
    ['module.exports of a CommonJS module', 'commonjs.cjs', 'from module.exports'],
    ['a stack applied to a handler', 'stacked.mjs', 'from a stack'],
  ]
  for (const [what, file, body] of cases) {
    it(`should serve ${what}`, async () => {
      const r = cli([fixture(file), ...BASE, '--workers', '1'])
      const port = await r.ready()
      const reply = await get(port, '/pid')
      expect(reply.status).toBe(200)
      expect(reply.body.startsWith(body)).toBe(true)
      if (file === 'stacked.mjs') expect(reply.headers['x-powered-by']).toBe('shallot')
      r.signal('SIGTERM')
      expect((await exitWithin(r)).code).toBe(0)
    })
  }

  it('should read PORT when --port is not given', async () => {
    const r = cli([fixture('app.mjs'), '--host', '127.0.0.1', '--workers', '0'], {
      env: { PORT: '0' },
    })
    const port = await r.ready()
    expect((await get(port, '/pid')).status).toBe(200)
    r.signal('SIGTERM')
    expect((await exitWithin(r)).code).toBe(0)
  })
})
