/**
 * The soak's short version, as CI runs it: `node soak.mjs --requests 50000` (the full demo
 * stack in a child process, mixed traffic, memory reported) must pass its own checks: every
 * answer right, every request counted and logged, heap at the end within 10% of its level
 * after the warm-up, peak RSS under the bound.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'

const REQUESTS = Number(process.env.SOAK_CI_REQUESTS ?? 50_000)
const SOAK = fileURLToPath(new URL('../soak.mjs', import.meta.url))

let child: ReturnType<typeof spawn> | undefined
afterAll(() => {
  // soak.mjs kills its server when it exits, whatever the reason
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM')
  }
})

it(
  `passes a soak of ${REQUESTS} requests`,
  async () => {
    child = spawn(process.execPath, [SOAK, '--requests', String(REQUESTS)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (c: string) => {
      out += c
    })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (c: string) => {
      out += c
    })
    const [code] = await once(child, 'exit')
    console.log(out)
    expect(code, out).toBe(0)
    const result = JSON.parse(/^SOAK_RESULT (.*)$/m.exec(out)?.[1] ?? 'null') as {
      ok: boolean
      requests: number
      wrong: number
      failed: number
      heapGrowth: number
      monitored: number
    } | null
    expect(result).toMatchObject({ ok: true, requests: REQUESTS, wrong: 0, failed: 0 })
    expect(result?.monitored).toBe(REQUESTS)
    expect(result?.heapGrowth).toBeLessThanOrEqual(0.1)
  },
  5 * 60_000
)
