/*
 * Cluster-wide /metrics and /stats from any worker.
 *
 * The worker that receives the scrape asks the primary to gather; the primary relays the
 * question to every worker that runs a monitor (the asking one included), collects their
 * raw parts (prom-client's getMetricsAsJSON(), or the stats part) and hands them back. The
 * asking worker aggregates them. The primary only relays messages: it never aggregates, so
 * a large scrape cannot block it (prometheus/client_js#628), and it needs no registry.
 *
 * A worker takes part only after the primary has answered its `hello`: without
 * setupClusterPrimary() every worker serves its own numbers, without waiting for a timeout
 * on every scrape (the AggregatorRegistry pitfall of prometheus/client_js#501).
 */
import cluster, { type Worker } from 'node:cluster'
import { checkKeys, integerOption, PKG } from './options.js'

const TAG = 'shallotMonitoring'

/** What a monitor gives when the cluster gathers. @internal */
export interface ClusterMember {
  part(kind: 'metrics' | 'stats'): Promise<unknown>
}

/** The parts of every worker that answered, and how many did not. @internal */
export interface Gathered {
  parts: unknown[]
  missing: number
}

interface Message {
  [TAG]: 1
  type: 'probe' | 'hello' | 'welcome' | 'gather' | 'collect' | 'part' | 'gathered'
  id?: number
  key?: number
  kind?: 'metrics' | 'stats'
  timeout?: number
  part?: unknown
  parts?: unknown[]
  missing?: number
}

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && (value as Message)[TAG] === 1
}

function send(
  target: { send?: (m: Message) => unknown },
  message: Omit<Message, typeof TAG>
): void {
  try {
    target.send?.({ [TAG]: 1, ...message } as Message)
  } catch {
    // The channel closed: the other side is gone, and its absence is reported as missing.
  }
}

// ---------------------------------------------------------------------------------------
// Worker side

const members = new Map<number, ClusterMember>()
const waiting = new Map<number, (g: Gathered | undefined) => void>()
let nextKey = 0
let nextRequest = 0
let welcomed = false
let listening = false

/** Whether this process is a cluster worker that can talk to its primary. @internal */
export function isClusterWorker(): boolean {
  return cluster.isWorker && typeof process.send === 'function'
}

function onWorkerMessage(message: unknown): void {
  if (!isMessage(message)) return
  switch (message.type) {
    case 'probe':
      send(process, { type: 'hello' })
      return
    case 'welcome':
      welcomed = true
      return
    case 'collect': {
      const member = members.get(message.key as number)
      const reply = (part: unknown): void =>
        send(process, { type: 'part', id: message.id as number, part })
      if (member === undefined) {
        reply(null)
        return
      }
      member.part(message.kind as 'metrics' | 'stats').then(reply, () => reply(null))
      return
    }
    case 'gathered': {
      const done = waiting.get(message.id as number)
      if (done === undefined) return
      waiting.delete(message.id as number)
      done({ parts: message.parts ?? [], missing: message.missing ?? 0 })
      return
    }
  }
}

/**
 * Makes a monitor of this worker a member of the cluster; returns its key. Monitors are
 * matched across workers by the order in which each worker creates them.
 * @internal
 */
export function joinCluster(member: ClusterMember): number {
  const key = nextKey++
  members.set(key, member)
  if (!listening) {
    listening = true
    // (Not unref'd: with round-robin scheduling a worker's server receives its connections
    // through this very channel, and a cluster worker ends with disconnect() anyway.)
    process.on('message', onWorkerMessage)
    send(process, { type: 'hello' })
  }
  return key
}

/**
 * Asks the primary for every member's part. Resolves undefined when the primary runs no
 * helper, or does not answer within the timeout: the caller then serves its own numbers.
 * @internal
 */
export function gather(
  key: number,
  kind: 'metrics' | 'stats',
  timeout: number
): Promise<Gathered | undefined> {
  if (!welcomed) return Promise.resolve(undefined)
  const id = nextRequest++
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiting.delete(id)
      resolve(undefined)
    }, timeout + 1000)
    timer.unref()
    waiting.set(id, (g) => {
      clearTimeout(timer)
      resolve(g)
    })
    send(process, { type: 'gather', id, key, kind, timeout })
  })
}

// ---------------------------------------------------------------------------------------
// Primary side

/** Options of {@link setupClusterPrimary}. */
export interface ClusterPrimaryOptions {
  /**
   * The longest the primary waits for the workers' parts when a worker did not say, in
   * milliseconds. Workers send their own `cluster.timeout`, which wins.
   *
   * @default 2000
   */
  timeout?: number
}

interface Pending {
  requester: Worker
  requestId: number
  waitingFor: Set<number>
  parts: unknown[]
  timer: NodeJS.Timeout
}

let primaryStop: (() => void) | undefined

/**
 * Run in the cluster primary (before or after forking): relays the monitors' gather
 * requests between workers, so that `/metrics` and `/stats` on any worker report the whole
 * cluster. Returns a function that removes its listeners. Calling it again returns the same
 * function.
 *
 * @see https://github.com/shallot-js/shallot/tree/main/packages/monitoring#cluster
 * @example
 * ```ts
 * if (cluster.isPrimary) {
 *   setupClusterPrimary()
 *   for (let i = 0; i < 4; i++) cluster.fork()
 * } else {
 *   http.createServer(stack(monitoring())(handler)).listen(8080)
 * }
 * ```
 */
export function setupClusterPrimary(options?: ClusterPrimaryOptions): () => void {
  checkKeys(options, 'setupClusterPrimary(options)', ['timeout'])
  const fallbackTimeout = integerOption('timeout', options?.timeout, 1, 60_000, 2000)
  if (!cluster.isPrimary) {
    throw new Error(`${PKG} setupClusterPrimary() must be called in the cluster primary`)
  }
  if (primaryStop !== undefined) return primaryStop

  const monitored = new Map<number, Worker>()
  const pending = new Map<number, Pending>()
  let nextGather = 0

  const finish = (gid: number): void => {
    const p = pending.get(gid)
    if (p === undefined) return
    pending.delete(gid)
    clearTimeout(p.timer)
    if (p.requester.isConnected()) {
      send(p.requester, {
        type: 'gathered',
        id: p.requestId,
        parts: p.parts,
        missing: p.waitingFor.size,
      })
    }
  }

  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage(message)) return
    switch (message.type) {
      case 'hello':
        monitored.set(worker.id, worker)
        send(worker, { type: 'welcome' })
        return
      case 'gather': {
        const gid = nextGather++
        const asked = message.timeout
        const timeout =
          typeof asked === 'number' && asked > 0 && asked <= 60_000 ? asked : fallbackTimeout
        const p: Pending = {
          requester: worker,
          requestId: message.id as number,
          waitingFor: new Set(),
          parts: [],
          timer: setTimeout(() => finish(gid), timeout),
        }
        p.timer.unref()
        pending.set(gid, p)
        for (const [id, w] of monitored) {
          if (!w.isConnected()) continue
          p.waitingFor.add(id)
          send(w, {
            type: 'collect',
            id: gid,
            key: message.key as number,
            kind: message.kind as 'metrics' | 'stats',
          })
        }
        if (p.waitingFor.size === 0) finish(gid)
        return
      }
      case 'part': {
        const p = pending.get(message.id as number)
        if (p === undefined || !p.waitingFor.delete(worker.id)) return
        if (message.part !== null && message.part !== undefined) p.parts.push(message.part)
        if (p.waitingFor.size === 0) finish(message.id as number)
        return
      }
    }
  }

  const onExit = (worker: Worker): void => {
    monitored.delete(worker.id)
    for (const [gid, p] of pending) {
      if (p.waitingFor.delete(worker.id) && p.waitingFor.size === 0) finish(gid)
    }
  }

  cluster.on('message', onMessage)
  cluster.on('exit', onExit)
  cluster.on('disconnect', onExit)
  // Workers forked before this call said hello to no one: ask them again.
  for (const w of Object.values(cluster.workers ?? {})) {
    if (w?.isConnected()) send(w, { type: 'probe' })
  }

  primaryStop = () => {
    cluster.off('message', onMessage)
    cluster.off('exit', onExit)
    cluster.off('disconnect', onExit)
    for (const gid of [...pending.keys()]) finish(gid)
    primaryStop = undefined
  }
  return primaryStop
}
