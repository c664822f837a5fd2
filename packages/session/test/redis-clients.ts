import { Redis } from 'ioredis'
import { createClient } from 'redis'
import type { IoRedisClientLike, NodeRedisClientLike } from '../src/index.js'

/** A client under test, how to talk to Redis directly, and how to close it. */
export interface TestClient {
  name: string
  client: NodeRedisClientLike | IoRedisClientLike
  /** Runs a raw command on the client. */
  command(args: string[]): Promise<unknown>
  close(): Promise<void>
}

type Maker = (port: number) => Promise<TestClient>

/** node-redis, failing fast while disconnected (no offline queue). */
export const nodeRedis: Maker = async (port) => {
  const client = createClient({
    url: `redis://127.0.0.1:${port}`,
    disableOfflineQueue: true,
    socket: { reconnectStrategy: () => 100, connectTimeout: 1000 },
  })
  client.on('error', () => {})
  await client.connect()
  return {
    name: 'node-redis',
    client,
    command: (args) => client.sendCommand(args),
    close: async () => {
      client.destroy()
    },
  }
}

/** ioredis, failing fast while disconnected (no offline queue). */
export const ioRedis: Maker = async (port) => {
  const client = new Redis(port, '127.0.0.1', {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
    lazyConnect: true,
  })
  client.on('error', () => {})
  await client.connect()
  return {
    name: 'ioredis',
    client,
    command: ([name, ...args]) => client.call(name as string, ...args),
    close: async () => {
      client.disconnect()
    },
  }
}

export const makers: [string, Maker][] = [
  ['node-redis', nodeRedis],
  ['ioredis', ioRedis],
]
