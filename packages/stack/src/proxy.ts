import type { IncomingMessage } from 'node:http'
import { BlockList, isIP } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { Middleware } from './types.js'

/** Which forwarding header the proxies in front of the app set. */
export type ForwardedHeader = 'x-forwarded' | 'forwarded'

/** Options of {@link trustProxy}. */
export interface TrustProxyOptions {
  /**
   * Which hops are trusted proxies. Walking from the socket's peer towards the client, each
   * trusted address is skipped; the first untrusted one is the client.
   * - a number: that many hops (the peer and the next n-1 listed addresses) are trusted;
   * - a list of addresses, CIDR ranges (`'10.0.0.0/8'`, `'fd00::/8'`) or the names
   *   `'loopback'`, `'linklocal'`, `'uniquelocal'`;
   * - `true`: every hop (only when a proxy you control always overwrites the header);
   * - a function `(address, hop) => boolean`, hop 0 being the socket's peer.
   *
   * @example ['loopback', '10.0.0.0/8']
   */
  trust: number | boolean | string | readonly string[] | ((address: string, hop: number) => boolean)
  /**
   * The header family to believe: `X-Forwarded-For`/`-Proto`/`-Host` (nginx, HAProxy,
   * cloud load balancers) or RFC 7239 `Forwarded`. Only one is read, so a client cannot
   * smuggle the other past a proxy that does not strip it.
   *
   * @default 'x-forwarded'
   */
  header?: ForwardedHeader
}

/** Where the request comes from, as the trusted proxies report it. */
export interface ClientInfo {
  /** The client's IP address (IPv4-mapped IPv6 addresses are given as IPv4). */
  readonly ip: string
  /** The scheme the client used. */
  readonly protocol: 'http' | 'https'
  /** Whether the client used TLS (`protocol === 'https'`). */
  readonly secure: boolean
  /** The host the client asked for (`host[:port]`), or undefined when none was sent. */
  readonly host: string | undefined
  /** How many proxies were trusted and skipped for this request. */
  readonly hops: number
}

interface Trust {
  trusts: (address: string, hop: number) => boolean
  header: ForwardedHeader
}

const kTrust: unique symbol = Symbol('shallot.trust')
const kClient: unique symbol = Symbol('shallot.client')

interface ProxyState extends IncomingMessage {
  [kTrust]?: Trust
  [kClient]?: ClientInfo
}

const NAMED: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
}

/**
 * Declares which proxies in front of the app are trusted. Layers inside it (logging,
 * session's `Secure` flag, redirects, monitoring) read the client's address, scheme and
 * host through {@link getClient}, which believes `X-Forwarded-*` (or `Forwarded`) only
 * as far as the trusted hops reach. Without this layer, nothing forwarded is believed.
 *
 * @example
 * ```ts
 * stack(trustProxy({ trust: ['loopback'] }), logging(), session({ secret }))
 * ```
 */
export function trustProxy(options: TrustProxyOptions): Middleware {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      '[@shallot/stack] trustProxy: options must be an object with a "trust" option'
    )
  }
  const header = options.header ?? 'x-forwarded'
  if (header !== 'x-forwarded' && header !== 'forwarded') {
    throw new TypeError(
      `[@shallot/stack] trustProxy: option "header" must be 'x-forwarded' or 'forwarded', got ${JSON.stringify(header)}`
    )
  }
  const trust: Trust = { trusts: compileTrust(options.trust), header }
  return function trustProxyMiddleware(next) {
    return function trustProxy(req, res) {
      const r = req as ProxyState
      r[kTrust] = trust
      r[kClient] = undefined
      return next(req, res)
    }
  }
}

function compileTrust(trust: TrustProxyOptions['trust']): Trust['trusts'] {
  if (typeof trust === 'function') return trust
  if (typeof trust === 'boolean') return () => trust
  if (typeof trust === 'number') {
    if (!Number.isInteger(trust) || trust < 0) {
      throw new TypeError(
        `[@shallot/stack] trustProxy: option "trust" as a number must be a non-negative integer, got ${trust}`
      )
    }
    return (_address, hop) => hop < trust
  }
  const list = typeof trust === 'string' ? trust.split(',').map((s) => s.trim()) : trust
  if (!Array.isArray(list)) {
    throw new TypeError(
      `[@shallot/stack] trustProxy: option "trust" must be a number, boolean, list or function, got ${typeof trust}`
    )
  }
  const blocks = new BlockList()
  for (const entry of list.flatMap((e: string) => NAMED[e] ?? [e])) addRange(blocks, entry)
  return (address) => {
    const family = isIP(address)
    return family !== 0 && blocks.check(address, family === 6 ? 'ipv6' : 'ipv4')
  }
}

function addRange(blocks: BlockList, entry: string): void {
  const bad = (): never => {
    throw new TypeError(
      `[@shallot/stack] trustProxy: option "trust" has ${JSON.stringify(entry)}, which is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal`
    )
  }
  if (typeof entry !== 'string') bad()
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const family = isIP(address)
  if (family === 0) bad()
  const type = family === 6 ? 'ipv6' : 'ipv4'
  if (slash === -1) {
    blocks.addAddress(address, type)
    return
  }
  const bits = entry.slice(slash + 1)
  const prefix = Number(bits)
  if (!/^\d{1,3}$/.test(bits) || prefix > (family === 6 ? 128 : 32)) bad()
  blocks.addSubnet(address, prefix, type)
}

/**
 * The client's address, scheme and host: from the socket, or from the forwarding headers
 * as far as a {@link trustProxy} layer outside this one trusts them. Computed on first use,
 * then cached for the request.
 */
export function getClient(req: IncomingMessage): ClientInfo {
  const r = req as ProxyState
  const cached = r[kClient]
  if (cached !== undefined) return cached
  const info = resolveClient(req, r[kTrust])
  r[kClient] = info
  return info
}

interface Hop {
  for?: string | undefined
  proto?: string | undefined
  host?: string | undefined
}

/** The client as the socket sees it (no proxy trusted). */
function direct(ip: string, protocol: 'http' | 'https', host: string | undefined): ClientInfo {
  return { ip, protocol, secure: protocol === 'https', host, hops: 0 }
}

function resolveClient(req: IncomingMessage, trust: Trust | undefined): ClientInfo {
  const socket = req.socket
  const peer = unmap(socket.remoteAddress ?? '')
  const socketProto = (socket as TLSSocket).encrypted === true ? 'https' : 'http'
  const hostHeader = req.headers.host
  if (trust === undefined || !trust.trusts(peer, 0)) return direct(peer, socketProto, hostHeader)
  const hops =
    trust.header === 'forwarded' ? parseForwarded(req.headers.forwarded) : parseXForwarded(req)
  if (hops === undefined || hops.length === 0) return direct(peer, socketProto, hostHeader)
  // hops[0] is the one nearest to us (rightmost in the header)
  let ip = peer
  let used = 0
  let proto: string | undefined
  let host: string | undefined
  for (let i = 0; i < hops.length; i++) {
    const hop = hops[i] as Hop
    // This hop's information was written by the trusted proxy at position i.
    if (hop.proto !== undefined) proto = hop.proto
    if (hop.host !== undefined) host = hop.host
    const address = hop.for === undefined ? undefined : unmap(hop.for)
    if (address === undefined || isIP(address) === 0) break
    ip = address
    used = i + 1
    if (!trust.trusts(address, i + 1)) break
  }
  const protocol = proto === 'https' || proto === 'http' ? proto : socketProto
  return { ip, protocol, secure: protocol === 'https', host: host ?? hostHeader, hops: used }
}

const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/

function parseXForwarded(req: IncomingMessage): Hop[] | undefined {
  const forList = listOf(req.headers['x-forwarded-for'])
  if (forList.length === 0) return undefined
  const protoList = listOf(req.headers['x-forwarded-proto'])
  const hostList = listOf(req.headers['x-forwarded-host'])
  const hops: Hop[] = []
  for (let i = 0; i < forList.length; i++) {
    // align from the right: the nearest proxy appended last
    const proto = protoList[protoList.length - 1 - i] ?? protoList[0]
    const host = hostList[hostList.length - 1 - i] ?? hostList[0]
    hops.push({
      for: forList[forList.length - 1 - i],
      proto: proto?.toLowerCase(),
      host: host !== undefined && HOST.test(host) ? host : undefined,
    })
  }
  return hops
}

function listOf(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  const joined = Array.isArray(value) ? value.join(',') : value
  const out: string[] = []
  for (const part of joined.split(',')) {
    const v = part.trim()
    if (v !== '') out.push(v)
  }
  return out
}

/** RFC 7239 §4: `Forwarded: for=192.0.2.60;proto=http;host=example.com, for="[2001:db8::1]:4711"` */
function parseForwarded(value: string | undefined): Hop[] | undefined {
  if (value === undefined) return undefined
  const elements: Hop[] = []
  for (const element of splitOutsideQuotes(value, ',')) {
    const hop: Hop = {}
    for (const pair of splitOutsideQuotes(element, ';')) {
      const eq = pair.indexOf('=')
      if (eq === -1) return undefined
      const name = pair.slice(0, eq).trim().toLowerCase()
      let v = pair.slice(eq + 1).trim()
      if (v.startsWith('"')) {
        if (!v.endsWith('"') || v.length < 2) return undefined
        v = v.slice(1, -1).replace(/\\(.)/g, '$1')
      }
      if (name === 'for') hop.for = nodeAddress(v)
      else if (name === 'proto') hop.proto = v.toLowerCase()
      else if (name === 'host') hop.host = HOST.test(v) ? v : undefined
    }
    elements.push(hop)
  }
  return elements.reverse()
}

function splitOutsideQuotes(value: string, sep: string): string[] {
  const out: string[] = []
  let quoted = false
  let start = 0
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (c === '\\' && quoted) i++
    else if (c === '"') quoted = !quoted
    else if (c === sep && !quoted) {
      out.push(value.slice(start, i))
      start = i + 1
    }
  }
  out.push(value.slice(start))
  return out.map((s) => s.trim()).filter((s) => s !== '')
}

/** `192.0.2.43:47011` -> `192.0.2.43`, `[2001:db8::1]:4711` -> `2001:db8::1`; obfuscated ids stay as they are (and are not IPs). */
function nodeAddress(v: string): string {
  if (v.startsWith('[')) {
    const end = v.indexOf(']')
    return end === -1 ? v : v.slice(1, end)
  }
  const colon = v.indexOf(':')
  return colon !== -1 && v.indexOf(':', colon + 1) === -1 ? v.slice(0, colon) : v
}

function unmap(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
}
