/**
 * A vitest globalSetup for recipes that need Redis (docs/recipes/session-redis.md): starts a
 * throwaway redis-server on a free port before the test files run, sets REDIS_URL for them
 * (the forks inherit the environment), and stops it afterwards. A REDIS_URL already set (a CI
 * service) is used as is.
 *
 * Wire it in test/recipes/vitest.config.ts:
 *   import { defineConfig, mergeConfig } from 'vitest/config'
 *   import shared from '../../vitest.shared.ts'
 *   export default mergeConfig(shared, defineConfig({ test: { globalSetup: ['test/redis.ts'] } }))
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let child: ChildProcess | undefined
let dir: string | undefined

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    let reply = ''
    socket.setTimeout(500, () => {
      socket.destroy()
      resolve(false)
    })
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      if (reply.includes('\r\n')) {
        socket.destroy()
        resolve(reply.startsWith('+PONG'))
      }
    })
    socket.on('error', () => resolve(false))
  })
}

export async function setup(): Promise<void> {
  if (process.env.REDIS_URL !== undefined) return
  const port = await freePort()
  dir = mkdtempSync(join(tmpdir(), 'shallot-recipes-redis-'))
  child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' }
  )
  const deadline = Date.now() + 10_000
  while (!(await pong(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`redis-server did not start on port ${port} (is it installed?)`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`
}

export async function teardown(): Promise<void> {
  if (child !== undefined && child.exitCode === null) {
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
}
