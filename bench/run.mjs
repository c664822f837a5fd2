// The benchmark harness: runs every scenario server against a load generator (wrk, or
// autocannon where wrk is missing), in alternating rounds, and reports req/s, p99 latency and the ratio to bare node:http.
// See README.md for the methodology. Usage: node bench/run.mjs [--help]

import { spawn, spawnSync } from 'node:child_process'
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { checkFullStack, cookieHeader } from './checks.mjs'
import { renderChart, renderReport } from './report.mjs'
import { gzipRequest } from './servers/compression-body.mjs'
import { HELLO, USER, USER_HEADER } from './servers/full-common.mjs'
import {
  apiKeyPass,
  basicPass,
  CORS_ORIGIN,
  corsPreflight,
  corsSimple,
} from './servers/requests.mjs'
import { staticRequests } from './servers/static-fixtures.mjs'

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
const HOST = '127.0.0.1'
const BASELINE = 'native'

/**
 * @typedef {object} Scenario
 * @property {string} name
 * @property {string} description
 * @property {string[]} command program and arguments; it must listen on 127.0.0.1:$PORT
 * @property {string} [expectBody] body the sanity check expects
 * @property {number} [expectBodyBytes] body length, in bytes, the sanity check expects
 * @property {Record<string, string>} [expectHeaderValues] headers the sanity check expects,
 *   with these exact values
 * @property {string} [expectHeader] header the sanity check expects on the second response
 * @property {string} [peer] a scenario this one is compared with head to head
 * @property {{ method?: string, path?: string, headers?: Record<string, string> }} [request]
 *   what the load generator and the sanity check send (default `GET /` with no extra header)
 * @property {number} [expectStatus] the status the sanity check expects (default: any 2xx)
 * @property {string[]} [expectHeaders] headers that must be on the sanity check's response
 * @property {string} [cookieFrom] a path to GET once the server listens: the `name=value` of
 *   its first Set-Cookie is sent as the `Cookie` header of the sanity check and the load
 * @property {boolean} [redis] the server needs Redis: the harness starts one redis-server
 *   for the whole run, pinned to the server's core (its work is server-side work), passes
 *   its URL in $REDIS_URL, and counts its CPU time as the server's
 * @property {string} [family] the group it is reported (and charted) in: see FAMILIES
 * @property {string} [floor] the scenario that sends the same answer by hand on bare node:http
 *   (the least any implementation pays): its cost is reported beside this one's
 * @property {string} [baseline] the bare node:http scenario its ratio and cost are taken
 *   against (default native): one given the very same request, so that parsing the request's
 *   own headers counts as neither the layer's cost nor its peer's
 * @property {'x-response-time' | 'server-timing'} [fullStack] a full-* server (scenario 1 of
 *   issue 8): the harness names its access log file ($BENCH_ACCESS_LOG) and checks its seven
 *   roles (checks.mjs) before every measurement; the value is the header its response-time
 *   role sets
 */

/** @param {string} file @returns {string[]} */
const nodeServer = (file) => [process.execPath, path.join(BENCH_DIR, 'servers', file)]

/** The request of the full-* scenarios: a browser's call from the allowed origin. */
const fullRequest = { method: 'GET', path: '/hello', headers: { origin: CORS_ORIGIN } }

/**
 * The full-stack contenders (servers/full-<id>.mjs): each is run without a cookie
 * (`full-<id>`) and with a valid session cookie (`full-<id>-cookie`). `responseTime` is the
 * header its response-time role sets. The roles each one uses: bench/README.md.
 *
 * @type {{ id: string, what: string, responseTime: 'x-response-time' | 'server-timing' }[]}
 */
const FULL_STACKS = [
  {
    id: 'shallot',
    what: 'Shallot: the seven @shallot layers',
    responseTime: 'x-response-time',
  },
  {
    id: 'express',
    what: 'Express 5 with expressjs middleware',
    responseTime: 'x-response-time',
  },
  {
    id: 'fastify',
    what: 'Fastify 5 with its plugins',
    responseTime: 'x-response-time',
  },
  {
    id: 'koa',
    what: 'Koa 3 with koa middleware',
    responseTime: 'x-response-time',
  },
  {
    id: 'hono',
    what: 'Hono 4 on @hono/node-server, with its middleware',
    responseTime: 'server-timing',
  },
]

/** The contenders of the single-range static scenario (the same servers as static-*). */
const STATIC_RANGE = [
  { id: 'shallot', what: '@shallot/static', command: nodeServer('static-shallot.mjs') },
  {
    id: 'nginx',
    what: 'nginx (Debian, sendfile on, one process)',
    command: ['bash', path.join(BENCH_DIR, 'servers', 'static-nginx.sh')],
  },
  { id: 'sirv', what: '`sirv`', command: nodeServer('static-sirv.mjs') },
  {
    id: 'serve-static',
    what: '`serve-static` (expressjs)',
    command: nodeServer('static-serve-static.mjs'),
  },
  {
    id: 'fastify',
    what: 'Fastify 5 + `@fastify/static`',
    command: nodeServer('static-fastify.mjs'),
  },
  {
    id: 'hono',
    what: 'Hono `serveStatic` on `@hono/node-server`',
    command: nodeServer('static-hono.mjs'),
  },
]

/**
 * The groups of the report: one table each, with the ratio to the group's reference (bare
 * node:http, or nginx for the static files), and one panel of the chart for those marked
 * `chart`. Scenarios without a family are in `layers`.
 *
 * @type {{ id: string, title: string, reference: string, chart: boolean }[]}
 */
const FAMILIES = [
  {
    id: 'full',
    title: 'Full stack: `GET /hello` through seven roles, no cookie',
    reference: 'full-native',
    chart: true,
  },
  {
    id: 'full-cookie',
    title: 'Full stack with a valid session cookie (the session is read)',
    reference: 'full-native',
    chart: true,
  },
  {
    id: 'stack',
    title: 'The stack: empty and with no-op layers',
    reference: BASELINE,
    chart: true,
  },
  { id: 'static-1k', title: 'Static: a 1 KiB file', reference: 'static-1k-nginx', chart: true },
  {
    id: 'static-256k',
    title: 'Static: a 256 KiB file',
    reference: 'static-256k-nginx',
    chart: true,
  },
  {
    id: 'static-304',
    title: 'Static: a 304 revalidation (If-Modified-Since)',
    reference: 'static-304-nginx',
    chart: true,
  },
  {
    id: 'static-range',
    title: 'Static: a single range (`Range: bytes=0-1023` of the 256 KiB file)',
    reference: 'static-range-nginx',
    chart: true,
  },
  {
    id: 'layers',
    title: 'Single layers and their peers (issues 3 to 6)',
    reference: BASELINE,
    chart: false,
  },
]

/**
 * What `--quick` runs: every full-stack contender (both variants), the stack, and one
 * static family with nginx, once each for a second: a smoke test of the harness and the
 * servers, not a measurement.
 */
const QUICK_SCENARIOS = [
  BASELINE,
  'stack-10',
  'full-native',
  ...FULL_STACKS.flatMap((f) => [`full-${f.id}`, `full-${f.id}-cookie`]),
  'static-1k-shallot',
  'static-1k-nginx',
  'static-range-shallot',
  'static-range-nginx',
]

/** @type {Scenario[]} The built-in contenders, in the order of a round. */
const SCENARIOS = [
  {
    name: 'native',
    family: 'stack',
    description: 'bare `node:http` (baseline)',
    command: nodeServer('native.mjs'),
    expectBody: 'hello',
  },
  {
    name: 'stack-empty',
    family: 'stack',
    description: '`stack()(handler)`',
    command: nodeServer('stack-empty.mjs'),
    expectBody: 'hello',
  },
  {
    name: 'stack-1',
    family: 'stack',
    description: '`stack(noop)(handler)`',
    command: nodeServer('stack-1.mjs'),
    expectBody: 'hello',
  },
  {
    name: 'stack-10',
    family: 'stack',
    description: '`stack(...10 × noop)(handler)`',
    command: nodeServer('stack-10.mjs'),
    expectBody: 'hello',
  },
  // Scenario 1 of issue 8: `GET /hello` through the full stack (servers/full-*.mjs)
  {
    name: 'full-native',
    family: 'full',
    description: 'bare `node:http`, the same 11-byte body (baseline of the full stack)',
    command: nodeServer('full-native.mjs'),
    request: fullRequest,
    expectBody: HELLO,
  },
  ...FULL_STACKS.flatMap((f) => [
    {
      name: `full-${f.id}`,
      family: 'full',
      description: `${f.what}; no cookie`,
      command: nodeServer(`full-${f.id}.mjs`),
      request: fullRequest,
      expectBody: HELLO,
      expectHeaderValues: { [USER_HEADER]: 'anonymous' },
      fullStack: f.responseTime,
    },
    {
      name: `full-${f.id}-cookie`,
      family: 'full-cookie',
      description: `${f.what}; a valid session cookie, the session read`,
      command: nodeServer(`full-${f.id}.mjs`),
      request: fullRequest,
      cookieFrom: '/login',
      expectBody: HELLO,
      expectHeaderValues: { [USER_HEADER]: USER },
      fullStack: f.responseTime,
    },
  ]),
  {
    name: 'full-floor',
    family: 'full',
    description:
      'floor: bare `node:http` filling the seven roles for `/hello` by hand (no library, no request id)',
    command: nodeServer('full-floor.mjs'),
    request: fullRequest,
    expectBody: HELLO,
    expectHeaderValues: { [USER_HEADER]: 'anonymous' },
  },
  {
    name: 'hooks-jshttp',
    description: 'stack + 1 layer: `on-headers` + `on-finished`',
    command: nodeServer('hooks-jshttp.mjs'),
    expectBody: 'hello',
    expectHeader: 'x-finished-before',
  },
  {
    name: 'hooks-shallot',
    description: 'stack + 1 layer: `onHeaders` + `onFinished` of @shallot/stack',
    command: nodeServer('hooks-shallot.mjs'),
    expectBody: 'hello',
    expectHeader: 'x-finished-before',
    peer: 'hooks-jshttp',
  },
  // Bare node:http given the requests of the header-level scenarios: their baselines.
  ...[
    ['native-cors-simple', corsSimple, 'the CORS simple request'],
    ['native-cors-preflight', corsPreflight, 'the CORS preflight (answers 200)'],
    ['native-apikey', apiKeyPass, 'the request with an X-API-Key'],
    ['native-basic', basicPass, 'the request with Basic credentials'],
  ].map(([name, request, what]) => ({
    name: /** @type {string} */ (name),
    description: `bare \`node:http\`, ${what}: the baseline of the scenarios sending it`,
    command: nodeServer('native.mjs'),
    request: /** @type {Scenario['request']} */ (request),
    expectBody: 'hello',
  })),
  {
    name: 'cors-simple',
    floor: 'floor-cors-simple',
    baseline: 'native-cors-simple',
    description: '@shallot/cors, simple request from an allowed origin (credentials)',
    command: nodeServer('cors-shallot.mjs'),
    request: corsSimple,
    expectBody: 'hello',
    expectHeaders: ['access-control-allow-origin', 'access-control-allow-credentials'],
    peer: 'cors-simple-expressjs',
  },
  {
    name: 'cors-simple-expressjs',
    floor: 'floor-cors-simple',
    baseline: 'native-cors-simple',
    description: '`cors` (expressjs) on bare node:http, same request',
    command: nodeServer('cors-expressjs.mjs'),
    request: corsSimple,
    expectBody: 'hello',
    expectHeaders: ['access-control-allow-origin', 'access-control-allow-credentials'],
  },
  {
    name: 'cors-preflight',
    baseline: 'native-cors-preflight',
    description: '@shallot/cors, preflight (OPTIONS, custom header)',
    command: nodeServer('cors-shallot.mjs'),
    request: corsPreflight,
    expectStatus: 204,
    expectHeaders: ['access-control-allow-methods', 'access-control-allow-headers'],
    peer: 'cors-preflight-expressjs',
  },
  {
    name: 'cors-preflight-expressjs',
    baseline: 'native-cors-preflight',
    description: '`cors` (expressjs) on bare node:http, same preflight',
    command: nodeServer('cors-expressjs.mjs'),
    request: corsPreflight,
    expectStatus: 204,
    expectHeaders: ['access-control-allow-methods', 'access-control-allow-headers'],
  },
  {
    name: 'apikey',
    floor: 'floor-apikey',
    baseline: 'native-apikey',
    description: '@shallot/auth `apiKey`, a request with a valid key',
    command: nodeServer('apikey-shallot.mjs'),
    request: apiKeyPass,
    expectBody: 'hello',
  },
  {
    name: 'basic',
    floor: 'floor-basic',
    baseline: 'native-basic',
    description: '@shallot/auth `basic`, valid credentials',
    command: nodeServer('basic-shallot.mjs'),
    request: basicPass,
    expectBody: 'hello',
    peer: 'basic-express-basic-auth',
  },
  {
    name: 'basic-express-basic-auth',
    floor: 'floor-basic',
    baseline: 'native-basic',
    description: '`express-basic-auth` on bare node:http, same credentials',
    command: nodeServer('basic-express-basic-auth.mjs'),
    request: basicPass,
    expectBody: 'hello',
  },
  // Floors: the same answers sent by hand on bare node:http, without a layer
  {
    name: 'floor-cors-simple',
    baseline: 'native-cors-simple',
    description: 'floor: bare `node:http` sending the three CORS headers by hand, same request',
    command: nodeServer('floor-cors-simple.mjs'),
    request: corsSimple,
    expectBody: 'hello',
    expectHeaders: ['access-control-allow-origin', 'access-control-allow-credentials'],
  },
  {
    name: 'floor-apikey',
    baseline: 'native-apikey',
    description:
      'floor: bare `node:http` hashing the key (SHA-256), comparing without early exit, two headers',
    command: nodeServer('floor-apikey.mjs'),
    request: apiKeyPass,
    expectBody: 'hello',
    expectHeaders: ['cache-control', 'vary'],
  },
  {
    name: 'floor-basic',
    baseline: 'native-basic',
    description:
      'floor: bare `node:http` decoding Basic, hashing user and password, comparing, `Vary`',
    command: nodeServer('floor-basic.mjs'),
    request: basicPass,
    expectBody: 'hello',
    expectHeaders: ['vary'],
  },
  {
    name: 'timing',
    description: '@shallot/timing `responseTime()` (X-Response-Time)',
    command: nodeServer('timing-shallot.mjs'),
    expectBody: 'hello',
    expectHeaders: ['x-response-time'],
    peer: 'timing-response-time',
  },
  {
    name: 'trace-off',
    description: '`stack(serverTiming(), ...10 × noop)`, no per-layer tracing',
    command: nodeServer('trace-off.mjs'),
    expectBody: 'hello',
    expectHeaders: ['server-timing'],
  },
  {
    name: 'trace-on',
    description: 'the same with `stack({ trace: traceLayers() }, …)`: 12 entries per response',
    command: nodeServer('trace-on.mjs'),
    expectBody: 'hello',
    expectHeaders: ['server-timing'],
    peer: 'trace-off',
  },
  {
    name: 'timing-response-time',
    description: '`response-time` (expressjs) on bare node:http',
    command: nodeServer('timing-response-time.mjs'),
    expectBody: 'hello',
    expectHeaders: ['x-response-time'],
  },
  {
    name: 'logging-combined',
    floor: 'floor-logging-id',
    description: '@shallot/logging, `combined` format to a file (request id on)',
    command: nodeServer('logging-shallot-combined.mjs'),
    expectBody: 'hello',
    expectHeaders: ['x-request-id'],
    peer: 'logging-morgan',
  },
  {
    name: 'logging-morgan',
    floor: 'floor-logging',
    description: '`morgan` (expressjs) `combined` to a file, on bare node:http',
    command: nodeServer('logging-morgan.mjs'),
    expectBody: 'hello',
  },
  {
    name: 'logging-json',
    floor: 'floor-logging-json-id',
    description: '@shallot/logging, `json` lines to a file (request id on)',
    command: nodeServer('logging-shallot-json.mjs'),
    expectBody: 'hello',
    expectHeaders: ['x-request-id'],
    peer: 'logging-pino-http',
  },
  {
    name: 'logging-pino-http',
    description: '`pino-http` JSON lines to a file (pino.destination, async), on bare node:http',
    command: nodeServer('logging-pino-http.mjs'),
    expectBody: 'hello',
  },
  {
    name: 'floor-logging',
    description:
      'floor: bare `node:http` writing a `combined` line on `finish`, batched to a file, by hand',
    command: nodeServer('floor-logging.mjs'),
    expectBody: 'hello',
  },
  {
    name: 'floor-logging-id',
    description:
      'floor: `floor-logging` plus a request id (`crypto.randomUUID()`) sent as `X-Request-Id`',
    command: nodeServer('floor-logging-id.mjs'),
    expectBody: 'hello',
    expectHeaders: ['x-request-id'],
  },
  {
    name: 'floor-logging-json-id',
    description:
      'floor: bare `node:http` writing the `json` line on `finish` by hand (body bytes counted, a request id sent), batched to a file',
    command: nodeServer('floor-logging-json-id.mjs'),
    expectBody: 'hello',
    expectHeaders: ['x-request-id'],
  },
  {
    name: 'session-none',
    description:
      '@shallot/session (memory store), a request without a cookie that never touches the session',
    command: nodeServer('session-shallot-memory.mjs'),
    request: { method: 'GET', path: '/' },
    expectBody: 'hello',
  },
  {
    name: 'session-memory-read',
    description: '@shallot/session (memory store), a valid cookie, the session read',
    command: nodeServer('session-shallot-memory.mjs'),
    request: { method: 'GET', path: '/read' },
    expectBody: 'hello',
    expectHeaders: ['x-session-count'],
    cookieFrom: '/login',
    peer: 'session-memory-read-express',
  },
  {
    name: 'session-memory-read-express',
    description: '`express-session` (MemoryStore) on bare node:http, same request',
    command: nodeServer('session-express-memory.mjs'),
    request: { method: 'GET', path: '/read' },
    expectBody: 'hello',
    expectHeaders: ['x-session-count'],
    cookieFrom: '/login',
  },
  {
    name: 'session-memory-write',
    description: '@shallot/session (memory store), a valid cookie, the session read and changed',
    command: nodeServer('session-shallot-memory.mjs'),
    request: { method: 'GET', path: '/write' },
    expectBody: 'hello',
    expectHeaders: ['x-session-count'],
    cookieFrom: '/login',
    peer: 'session-memory-write-express',
  },
  {
    name: 'session-memory-write-express',
    description: '`express-session` (MemoryStore) on bare node:http, same request',
    command: nodeServer('session-express-memory.mjs'),
    request: { method: 'GET', path: '/write' },
    expectBody: 'hello',
    expectHeaders: ['x-session-count'],
    cookieFrom: '/login',
  },
  {
    name: 'session-redis-read',
    description: '@shallot/session (RedisStore, node-redis), a valid cookie, the session read',
    command: nodeServer('session-shallot-redis.mjs'),
    request: { method: 'GET', path: '/read' },
    expectBody: 'hello',
    expectHeaders: ['x-session-count'],
    cookieFrom: '/login',
    redis: true,
    peer: 'session-redis-read-express',
  },
  {
    name: 'session-redis-read-express',
    description: '`express-session` (connect-redis, node-redis) on bare node:http, same request',
    command: nodeServer('session-express-redis.mjs'),
    request: { method: 'GET', path: '/read' },
    expectBody: 'hello',
    expectHeaders: ['x-session-count'],
    cookieFrom: '/login',
    redis: true,
  },
  {
    name: 'session-redis-write',
    description:
      '@shallot/session (RedisStore, node-redis), a valid cookie, the session read and changed',
    command: nodeServer('session-shallot-redis.mjs'),
    request: { method: 'GET', path: '/write' },
    expectBody: 'hello',
    expectHeaders: ['x-session-count'],
    cookieFrom: '/login',
    redis: true,
    peer: 'session-redis-write-express',
  },
  {
    name: 'session-redis-write-express',
    description: '`express-session` (connect-redis, node-redis) on bare node:http, same request',
    command: nodeServer('session-express-redis.mjs'),
    request: { method: 'GET', path: '/write' },
    expectBody: 'hello',
    expectHeaders: ['x-session-count'],
    cookieFrom: '/login',
    redis: true,
  },
  {
    name: 'compression-none',
    description: 'a 20 KiB JSON body, uncompressed (20,480 bytes on the wire)',
    command: nodeServer('compression-none.mjs'),
    request: gzipRequest,
  },
  {
    name: 'compression-gzip',
    description: '@shallot/compression, the same body gzipped (2,017 bytes)',
    command: nodeServer('compression-shallot.mjs'),
    request: gzipRequest,
    expectHeaders: ['content-encoding'],
    peer: 'compression-gzip-expressjs',
  },
  {
    name: 'compression-gzip-expressjs',
    description: '`compression` (expressjs) on bare node:http, the same body gzipped',
    command: nodeServer('compression-expressjs.mjs'),
    request: gzipRequest,
    expectHeaders: ['content-encoding'],
  },
  {
    name: 'static-1k-shallot',
    family: 'static-1k',
    description: '@shallot/static, the 1 KiB file',
    command: nodeServer('static-shallot.mjs'),
    request: staticRequests.small,
    peer: 'static-1k-nginx',
  },
  {
    name: 'static-1k-nginx',
    family: 'static-1k',
    description: 'nginx (Debian, sendfile on, one process), the 1 KiB file',
    command: ['bash', path.join(BENCH_DIR, 'servers', 'static-nginx.sh')],
    request: staticRequests.small,
  },
  {
    name: 'static-1k-sirv',
    family: 'static-1k',
    description: '`sirv`, the 1 KiB file',
    command: nodeServer('static-sirv.mjs'),
    request: staticRequests.small,
  },
  {
    name: 'static-1k-serve-static',
    family: 'static-1k',
    description: '`serve-static` (expressjs), the 1 KiB file',
    command: nodeServer('static-serve-static.mjs'),
    request: staticRequests.small,
  },
  {
    name: 'static-1k-fastify',
    family: 'static-1k',
    description: 'Fastify 5 + `@fastify/static`, the 1 KiB file',
    command: nodeServer('static-fastify.mjs'),
    request: staticRequests.small,
  },
  {
    name: 'static-1k-hono',
    family: 'static-1k',
    description: 'Hono `serveStatic` on `@hono/node-server`, the 1 KiB file',
    command: nodeServer('static-hono.mjs'),
    request: staticRequests.small,
  },
  {
    name: 'static-256k-shallot',
    family: 'static-256k',
    description: '@shallot/static, the 256 KiB file',
    command: nodeServer('static-shallot.mjs'),
    request: staticRequests.large,
    peer: 'static-256k-nginx',
  },
  {
    name: 'static-256k-nginx',
    family: 'static-256k',
    description: 'nginx (Debian, sendfile on, one process), the 256 KiB file',
    command: ['bash', path.join(BENCH_DIR, 'servers', 'static-nginx.sh')],
    request: staticRequests.large,
  },
  {
    name: 'static-256k-sirv',
    family: 'static-256k',
    description: '`sirv`, the 256 KiB file',
    command: nodeServer('static-sirv.mjs'),
    request: staticRequests.large,
  },
  {
    name: 'static-256k-serve-static',
    family: 'static-256k',
    description: '`serve-static` (expressjs), the 256 KiB file',
    command: nodeServer('static-serve-static.mjs'),
    request: staticRequests.large,
  },
  {
    name: 'static-256k-fastify',
    family: 'static-256k',
    description: 'Fastify 5 + `@fastify/static`, the 256 KiB file',
    command: nodeServer('static-fastify.mjs'),
    request: staticRequests.large,
  },
  {
    name: 'static-256k-hono',
    family: 'static-256k',
    description: 'Hono `serveStatic` on `@hono/node-server`, the 256 KiB file',
    command: nodeServer('static-hono.mjs'),
    request: staticRequests.large,
  },
  {
    name: 'static-304-shallot',
    family: 'static-304',
    description: '@shallot/static, a 304 revalidation of the 1 KiB file (If-Modified-Since)',
    command: nodeServer('static-shallot.mjs'),
    request: staticRequests.notModified,
    expectStatus: 304,
    peer: 'static-304-nginx',
  },
  {
    name: 'static-304-nginx',
    family: 'static-304',
    description:
      'nginx (Debian, sendfile on, one process), a 304 revalidation of the 1 KiB file (If-Modified-Since)',
    command: ['bash', path.join(BENCH_DIR, 'servers', 'static-nginx.sh')],
    request: staticRequests.notModified,
    expectStatus: 304,
  },
  {
    name: 'static-304-serve-static',
    family: 'static-304',
    description:
      '`serve-static` (expressjs), a 304 revalidation of the 1 KiB file (If-Modified-Since)',
    command: nodeServer('static-serve-static.mjs'),
    request: staticRequests.notModified,
    expectStatus: 304,
  },
  {
    name: 'static-304-fastify',
    family: 'static-304',
    description:
      'Fastify 5 + `@fastify/static`, a 304 revalidation of the 1 KiB file (If-Modified-Since)',
    command: nodeServer('static-fastify.mjs'),
    request: staticRequests.notModified,
    expectStatus: 304,
  },
  ...STATIC_RANGE.map((c) => ({
    name: `static-range-${c.id}`,
    family: 'static-range',
    description: `${c.what}, one range: the first KiB of the 256 KiB file (206)`,
    command: c.command,
    request: staticRequests.range,
    expectStatus: 206,
    expectBodyBytes: 1024,
  })),
  {
    name: 'monitoring',
    description: '@shallot/monitoring: request metrics (prom-client) and default process metrics',
    command: nodeServer('monitoring-shallot.mjs'),
    expectBody: 'hello',
    peer: 'monitoring-express-prom-bundle',
  },
  {
    name: 'monitoring-express-prom-bundle',
    description: '`express-prom-bundle` (method + status code labels), on bare node:http',
    command: nodeServer('monitoring-express-prom-bundle.mjs'),
    expectBody: 'hello',
  },
]

/**
 * Ratios to node:http (or to the scenario named by `of`) that the run checks and reports.
 *
 * @type {{ scenario: string, min: number, of?: string }[]}
 */
const GOALS = [
  { scenario: 'stack-10', min: 0.97 },
  { scenario: 'logging-combined', min: 0.9 },
  { scenario: 'logging-json', min: 0.9 },
  { scenario: 'monitoring', min: 0.93 },
  { scenario: 'session-none', min: 0.97 },
  // against nginx, not node:http: see the static scenarios
  { scenario: 'static-1k-shallot', of: 'static-1k-nginx', min: 0.5 },
  { scenario: 'static-304-shallot', of: 'static-304-nginx', min: 0.5 },
  { scenario: 'static-256k-shallot', of: 'static-256k-nginx', min: 0.6 },
  // the full stack (issue 8): at least 80% of bare node:http serving the same body, and at
  // least 3x the best peer's full stack (3x each of them), with and without a cookie
  ...['', '-cookie'].flatMap((variant) => [
    { scenario: `full-shallot${variant}`, of: 'full-native', min: 0.8 },
    ...FULL_STACKS.filter((f) => f.id !== 'shallot').map((f) => ({
      scenario: `full-shallot${variant}`,
      of: `full-${f.id}${variant}`,
      min: 3,
    })),
  ]),
  ...['cors-simple', 'cors-preflight', 'apikey', 'basic', 'timing'].map((scenario) => ({
    scenario,
    min: 0.95,
  })),
]

/**
 * Head-to-head cost goals: what a Shallot layer adds over bare node:http must be at most
 * `maxShare` of what its peer adds. The cost is read from the server's CPU per request
 * (scenario ÷ node:http − 1, median of per-round values), the measure least disturbed by the
 * load generator; the req/s cost (1 − ratio) is reported beside it.
 */
const COST_GOALS = [
  { scenario: 'cors-simple', peer: 'cors-simple-expressjs', maxShare: 0.5 },
  { scenario: 'cors-preflight', peer: 'cors-preflight-expressjs', maxShare: 0.5 },
  { scenario: 'basic', peer: 'basic-express-basic-auth', maxShare: 0.5 },
  { scenario: 'timing', peer: 'timing-response-time', maxShare: 0.5 },
  // "beats the peer": costs less over node:http than the peer does
  { scenario: 'logging-combined', peer: 'logging-morgan', maxShare: 1 },
  { scenario: 'logging-combined', peer: 'logging-pino-http', maxShare: 1 },
  { scenario: 'logging-json', peer: 'logging-morgan', maxShare: 1 },
  { scenario: 'logging-json', peer: 'logging-pino-http', maxShare: 1 },
  { scenario: 'monitoring', peer: 'monitoring-express-prom-bundle', maxShare: 1 },
  // "beats express-session by at least 1.5x over their cost above bare"
  ...['memory-read', 'memory-write', 'redis-read', 'redis-write'].map((what) => ({
    scenario: `session-${what}`,
    peer: `session-${what}-express`,
    maxShare: 1 / 1.5,
  })),
]

const HELP = `Usage: node bench/run.mjs [options] [scenario...]

Runs the scenarios (all by default; ${BASELINE} is always added as the baseline) in
alternating rounds, the server pinned to one core and the load generator to another.
With no scenario named, it runs every one, then the session memory run
(session-memory.mjs), and writes bench/results/latest.md and latest.svg.

Scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}

Options (environment variable in brackets):
  --rounds N          rounds, at least 3 [BENCH_ROUNDS] (default 5)
  --duration S        measured seconds per run [BENCH_DURATION] (default 5)
  --warmup S          warm-up seconds per run, not measured [BENCH_WARMUP] (default 2)
  --connections N     concurrent connections [BENCH_CONNECTIONS] (default 50)
  --pipelining N      requests in flight per connection [BENCH_PIPELINING] (default 1;
                      more than 1 needs --tool autocannon)
  --tool NAME         load generator: wrk (Debian's, C) or autocannon (npm)
                      [BENCH_TOOL] (default wrk when it is installed, else autocannon)
  --server-cpu N      core the server is pinned to [BENCH_SERVER_CPU] (default 0)
  --load-cpu N        core the load generator is pinned to [BENCH_LOAD_CPU] (default 1)
  --retries N         how many times a run disturbed by other CPU load (see README) is
                      repeated before it is kept, flagged [BENCH_RETRIES] (default 3)
  --no-pin            do not pin with taskset
  --server NAME=CMD   add a scenario: any command (split on spaces) that listens on
                      127.0.0.1, on the port in $PORT or in place of {port} in CMD;
                      may be repeated
  --out FILE          JSON results file (default bench/results/bench-<time>.json;
                      bench/results/quick.json with --quick)
  --md FILE           also write the markdown report there, and the chart beside it
                      (FILE with .svg); default: bench/results/latest.md when every
                      scenario runs, bench/results/quick.md with --quick, none otherwise
  --no-memory         skip the session memory run of a full run
  --memory            do the session memory run even with scenarios named
  --memory-requests N requests of the session memory run (default 1000000)
  --quick             smoke test: ${QUICK_SCENARIOS.length} scenarios (or those named), 1 round of
                      1 s warm-up + 1 s, no retries, no preflight; every server must start,
                      pass its checks and serve the load without errors, else the exit
                      code is 1. Measures nothing worth reading; asserts no goal.
  --list              list the scenarios and exit
  -h, --help          show this help
`

/** Every child process started by the harness, so that none outlives it. */
const children = new Set()

/**
 * Reads the options from the command line, falling back to BENCH_* environment variables.
 *
 * @param {string[]} argv
 */
function parseOptions(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      pipelining: { type: 'string' },
      tool: { type: 'string' },
      'server-cpu': { type: 'string' },
      'load-cpu': { type: 'string' },
      retries: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      server: { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
      md: { type: 'string' },
      'no-memory': { type: 'boolean', default: false },
      memory: { type: 'boolean', default: false },
      'memory-requests': { type: 'string' },
      quick: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const env = process.env
  /**
   * @param {string} name
   * @param {string | undefined} raw
   * @param {number} fallback
   * @param {number} min
   * @param {boolean} [integer]
   */
  const num = (name, raw, fallback, min, integer = true) => {
    if (raw === undefined || raw === '') return fallback
    const n = Number(raw)
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`)
    }
    return n
  }
  // --quick: one short round, unless asked otherwise on the command line (not through the
  // environment, which a CI job may set for full runs)
  const quick = values.quick === true
  const options = {
    quick,
    rounds: quick
      ? num('rounds', values.rounds, 1, 1)
      : num('rounds', values.rounds ?? env.BENCH_ROUNDS, 5, 3),
    duration: quick
      ? num('duration', values.duration, 1, 1, false)
      : num('duration', values.duration ?? env.BENCH_DURATION, 5, 1, false),
    warmup: quick
      ? num('warmup', values.warmup, 1, 0, false)
      : num('warmup', values.warmup ?? env.BENCH_WARMUP, 2, 0, false),
    connections: num('connections', values.connections ?? env.BENCH_CONNECTIONS, 50, 1),
    pipelining: num('pipelining', values.pipelining ?? env.BENCH_PIPELINING, 1, 1),
    serverCpu: num('server-cpu', values['server-cpu'] ?? env.BENCH_SERVER_CPU, 0, 0),
    loadCpu: num('load-cpu', values['load-cpu'] ?? env.BENCH_LOAD_CPU, 1, 0),
    retries: quick
      ? num('retries', values.retries, 0, 0)
      : num('retries', values.retries ?? env.BENCH_RETRIES, 3, 0),
    pin: !values['no-pin'],
    out: values.out,
    md: values.md,
    memory: values['no-memory'] ? false : values.memory ? true : 'full',
    memoryRequests: num('memory-requests', values['memory-requests'], 1_000_000, 1),
    tool: loadTool(values.tool ?? env.BENCH_TOOL),
  }
  const custom = /** @type {string[]} */ (values.server).map(parseCustomServer)
  return { options, positionals, custom, list: values.list, help: values.help }
}

/**
 * The load generator to use: the one asked for, else wrk when it is on the PATH (a C
 * program: it needs far less CPU per request than the servers, so the server core is the
 * bottleneck and the ratios measure the server), else autocannon.
 *
 * @param {string | undefined} raw
 * @returns {'wrk' | 'autocannon'}
 */
function loadTool(raw) {
  if (raw === 'wrk' || raw === 'autocannon') return raw
  if (raw !== undefined && raw !== '') throw new UsageError('--tool must be wrk or autocannon')
  return spawnSync('wrk', ['--version']).error === undefined ? 'wrk' : 'autocannon'
}

/** A mistake in the command line: reported without a stack trace. */
class UsageError extends Error {}

/**
 * Parses `--server NAME=CMD` into a scenario.
 *
 * @param {string} spec
 * @returns {Scenario}
 */
function parseCustomServer(spec) {
  const eq = spec.indexOf('=')
  const name = spec.slice(0, eq)
  const command = spec
    .slice(eq + 1)
    .split(/\s+/)
    .filter(Boolean)
  if (eq <= 0 || !/^[\w.-]+$/.test(name) || command.length === 0) {
    throw new UsageError(`--server expects NAME=COMMAND, got ${JSON.stringify(spec)}`)
  }
  return { name, description: `\`${command.join(' ')}\``, command }
}

/**
 * Picks the scenarios to run from the names given, in the registry's order, with the
 * node:http baseline always first (every ratio is computed against it).
 *
 * @param {string[]} names
 * @param {Scenario[]} custom
 * @returns {Scenario[]}
 */
function selectScenarios(names, custom) {
  const all = [...SCENARIOS, ...custom]
  const known = new Map(all.map((s) => [s.name, s]))
  if (known.size !== all.length) throw new UsageError('two scenarios have the same name')
  for (const name of names) {
    if (!known.has(name)) {
      throw new UsageError(
        `unknown scenario ${JSON.stringify(name)}; known: ${[...known.keys()].join(', ')}`
      )
    }
  }
  const wanted = new Set(names.length > 0 ? [...names, ...custom.map((s) => s.name)] : known.keys())
  wanted.add(BASELINE)
  // the reference of each family in the selection, so every ratio can be computed
  for (const name of [...wanted]) wanted.add(familyOf(known.get(name)).reference)
  // and the bare node:http given the same request, for the header-level scenarios, and
  // the floors (whose baselines are those)
  for (const name of [...wanted]) {
    const floor = known.get(name)?.floor
    if (floor !== undefined) wanted.add(floor)
  }
  for (const name of [...wanted]) {
    const baseline = known.get(name)?.baseline
    if (baseline !== undefined) wanted.add(baseline)
  }
  return all.filter((s) => wanted.has(s.name))
}

/**
 * The family a scenario is reported in (`layers` when it names none).
 *
 * @param {Scenario | undefined} scenario
 */
function familyOf(scenario) {
  const family = FAMILIES.find((f) => f.id === (scenario?.family ?? 'layers'))
  if (family === undefined) throw new Error(`unknown family ${scenario?.family}`)
  return family
}

/**
 * Decides how to pin: the server to one core and the load generator to another, with
 * `taskset`, when it exists and the machine has the two cores. Also moves the harness itself
 * to the load generator's core, so it never disturbs the server.
 *
 * @param {{ pin: boolean, serverCpu: number, loadCpu: number }} options
 * @returns {{ tool: string, serverCpu: number, loadCpu: number } | null}
 */
function resolvePinning(options) {
  if (!options.pin) return null
  const tool = findExecutable('taskset')
  const cpus = os.availableParallelism()
  if (tool === undefined) {
    warn('taskset not found: server and load generator are NOT pinned (numbers are noisier)')
    return null
  }
  if (options.serverCpu === options.loadCpu) {
    throw new UsageError('--server-cpu and --load-cpu must be different cores')
  }
  if (Math.max(options.serverCpu, options.loadCpu) >= cpus) {
    warn(`only ${cpus} CPU(s) available: server and load generator are NOT pinned`)
    return null
  }
  const self = spawnSync(tool, ['-a', '-p', '-c', String(options.loadCpu), String(process.pid)])
  if (self.status !== 0) warn('could not pin the harness itself to the load core')
  return { tool, serverCpu: options.serverCpu, loadCpu: options.loadCpu }
}

/**
 * Finds an executable on PATH.
 *
 * @param {string} name
 * @returns {string | undefined}
 */
function findExecutable(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const file = path.join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // not here
    }
  }
  return undefined
}

/**
 * Starts a child process, pinned to `cpu` when pinning is on, and tracks it so that
 * {@link killAll} can end it. Its stdin is a pipe the child may watch: it closes when the
 * harness dies, however it dies.
 *
 * @param {string[]} command
 * @param {number | undefined} cpu
 * @param {Record<string, string>} env
 * @returns {import('node:child_process').ChildProcessWithoutNullStreams}
 */
function spawnPinned(command, cpu, env) {
  const [program, ...args] = command
  const argv =
    cpu === undefined ? [program, ...args] : [pinning.tool, '-c', String(cpu), ...command]
  const child = spawn(/** @type {string} */ (argv[0]), argv.slice(1), {
    cwd: BENCH_DIR,
    env: { ...process.env, ...env, SHALLOT_BENCH_WATCH_STDIN: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  child.on('error', () => children.delete(child))
  child.stdin.on('error', () => {})
  return child
}

/**
 * Stops a child: SIGTERM, then SIGKILL if it is still there after `graceMs`.
 *
 * @param {import('node:child_process').ChildProcess} child
 * @param {number} [graceMs]
 * @returns {Promise<void>}
 */
function stopChild(child, graceMs = 2000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Stops every child still running. */
async function killAll() {
  await Promise.all([...children].map((child) => stopChild(child)))
}

/**
 * A free port on the loopback interface for a server to start on. It is taken below the
 * OS's ephemeral range (ip_local_port_range): between this check and the server's listen, no
 * other process's `listen(0)` or outgoing connection can take it. A port from `listen(0)`
 * once went to a test running beside the bench, which then answered the bench's checks.
 *
 * @returns {Promise<number>}
 */
async function freePort() {
  let high = 32768
  try {
    const low = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]
    )
    if (Number.isInteger(low) && low > 10100) high = low
  } catch {
    // not Linux: keep the IANA dynamic range's start
  }
  for (let i = 0; i < 100; i++) {
    const port = 10000 + Math.floor(Math.random() * (high - 10000))
    const free = await new Promise((resolve) => {
      const probe = net.createServer()
      probe.once('error', () => resolve(false))
      probe.listen(port, HOST, () => probe.close(() => resolve(true)))
    })
    if (free) return port
  }
  throw new Error(`[bench] no free port found in 10000-${high - 1}`)
}

/**
 * Keeps the last `max` characters a stream wrote, for error messages.
 *
 * @param {import('node:stream').Readable} stream
 * @param {number} [max]
 * @returns {() => string}
 */
function tail(stream, max = 4000) {
  let text = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk) => {
    text = (text + chunk).slice(-max)
  })
  return () => text.trim()
}

/**
 * @typedef {{ child: import('node:child_process').ChildProcess, port: number, pid: number, stderr: () => string, accessLog: string | null }} Server
 */

/**
 * Starts a scenario's server on a free port, pinned to the server core, and waits until it
 * accepts connections on 127.0.0.1. A full-stack server is given a fresh access log file.
 *
 * @param {Scenario} scenario
 * @returns {Promise<Server>}
 */
async function startServer(scenario) {
  const port = await freePort()
  const command = scenario.command.map((arg) => arg.replaceAll('{port}', String(port)))
  const accessLog =
    scenario.fullStack === undefined
      ? null
      : path.join(os.tmpdir(), `shallot-bench-access-${scenario.name}-${process.pid}-${port}.log`)
  const child = spawnPinned(command, pinning?.serverCpu, {
    PORT: String(port),
    NODE_ENV: 'production',
    ...(redis === null ? {} : { REDIS_URL: redis.url }),
    ...(accessLog === null ? {} : { BENCH_ACCESS_LOG: accessLog }),
  })
  tail(child.stdout)
  const stderr = tail(child.stderr)
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server ${scenario.name} exited before listening:\n${stderr()}`)
    }
    if (await canConnect(port)) break
    if (Date.now() > deadline) {
      await stopServer({ child, accessLog })
      throw new Error(`server ${scenario.name} did not listen on ${HOST}:${port} within 15 s`)
    }
    await sleep(50)
  }
  return { child, port, pid: /** @type {number} */ (child.pid), stderr, accessLog }
}

/**
 * Stops a server and removes its access log, if it had one.
 *
 * @param {Pick<Server, 'child' | 'accessLog'>} server
 */
async function stopServer(server) {
  await stopChild(server.child)
  if (server.accessLog !== null) rmSync(server.accessLog, { force: true })
}

/**
 * What a server holds in memory now, from /proc/<pid>/status: the resident set (VmRSS) and
 * its peak (VmHWM), in MiB. `null` where /proc is not available.
 *
 * @param {number} pid
 * @returns {{ rssMiB: number, peakRssMiB: number } | null}
 */
function residentMemory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (/** @type {string} */ field) =>
      Number(new RegExp(`^${field}:\\s*(\\d+) kB$`, 'm').exec(status)?.[1] ?? Number.NaN)
    const rss = kib('VmRSS')
    const peak = kib('VmHWM')
    if (!Number.isFinite(rss)) return null
    return { rssMiB: rss / 1024, peakRssMiB: Number.isFinite(peak) ? peak / 1024 : rss / 1024 }
  } catch {
    return null
  }
}

/**
 * Whether a TCP connection to 127.0.0.1:`port` succeeds.
 *
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Sends two requests on one keep-alive connection and checks the answers, so a scenario that
 * is fast because it is broken is caught: status 2xx, the expected body, and, for the hooks
 * scenarios, a header that proves the onHeaders listener ran and the onFinished listener of
 * the first exchange fired before the second head was written.
 *
 * @param {Scenario} scenario
 * @param {number} port
 * @param {Scenario['request']} request
 */
async function sanityCheck(scenario, port, request) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  try {
    let last
    for (let i = 0; i < 2; i++) {
      last = await get(port, agent, request)
      const statusOk =
        scenario.expectStatus === undefined
          ? last.status >= 200 && last.status <= 299
          : last.status === scenario.expectStatus
      if (!statusOk) {
        throw new Error(
          `${scenario.name}: ${request?.method ?? 'GET'} ${request?.path ?? '/'} answered ${last.status}`
        )
      }
      if (scenario.expectBody !== undefined && last.body !== scenario.expectBody) {
        throw new Error(`${scenario.name}: unexpected body ${JSON.stringify(last.body)}`)
      }
      if (scenario.expectBodyBytes !== undefined && last.bytes !== scenario.expectBodyBytes) {
        throw new Error(
          `${scenario.name}: a body of ${last.bytes} bytes, expected ${scenario.expectBodyBytes}`
        )
      }
      for (const name of scenario.expectHeaders ?? []) {
        if (last.headers[name] === undefined) {
          throw new Error(`${scenario.name}: the response has no ${name} header`)
        }
      }
      for (const [name, value] of Object.entries(scenario.expectHeaderValues ?? {})) {
        if (last.headers[name] !== value) {
          throw new Error(
            `${scenario.name}: header ${name} is ${JSON.stringify(last.headers[name])}, expected ${JSON.stringify(value)}`
          )
        }
      }
    }
    if (scenario.expectHeader !== undefined) {
      const value = Number(last?.headers[scenario.expectHeader])
      if (!(value >= 1)) {
        throw new Error(
          `${scenario.name}: header ${scenario.expectHeader} is ${last?.headers[scenario.expectHeader]}, expected >= 1`
        )
      }
    }
  } finally {
    agent.destroy()
  }
}

/**
 * One request to 127.0.0.1:`port`, `GET /` unless `request` says otherwise.
 *
 * @param {number} port
 * @param {http.Agent} agent
 * @param {Scenario['request']} [request]
 * @returns {Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string, bytes: number }>}
 */
function get(port, agent, request) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: HOST,
        port,
        path: request?.path ?? '/',
        method: request?.method ?? 'GET',
        headers: request?.headers,
        agent,
        timeout: 5000,
      },
      (res) => {
        /** @type {Buffer[]} */
        const chunks = []
        res.on('data', (chunk) => {
          chunks.push(chunk)
        })
        res.on('end', () => {
          const data = Buffer.concat(chunks)
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: data.toString('utf8'),
            bytes: data.length,
          })
        })
        res.on('error', reject)
      }
    )
    req.on('timeout', () => req.destroy(new Error('sanity request timed out')))
    req.on('error', reject)
    req.end()
  })
}

/**
 * CPU time used so far by all threads of process `pid`, in milliseconds, from Linux's
 * /proc (per-thread schedstat in nanoseconds, else utime + stime in clock ticks).
 * `null` where /proc is not available.
 *
 * @param {number} pid
 * @returns {number | null}
 */
function cpuTimeMs(pid) {
  try {
    let ns = 0
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    }
    if (ns > 0) return ns / 1e6
  } catch {
    // fall through
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return null
  }
}

/**
 * Machine-wide CPU counters from /proc/stat, in milliseconds: the time all CPUs spent running
 * processes (user + nice + system), and the time the hypervisor stole from each CPU. `null`
 * where /proc is not available. Sampled around a run, they show whether anything else ran
 * meanwhile (a noisy neighbour in the VM, or other processes on the machine).
 *
 * @returns {{ busyMs: number, stealMsPerCpu: number[] } | null}
 */
function systemTimes() {
  try {
    const stat = readFileSync('/proc/stat', 'utf8')
    let busyMs = 0
    const stealMsPerCpu = []
    for (const m of stat.matchAll(/^cpu(\d+)((?: \d+)+)$/gm)) {
      const f = (m[2] ?? '').trim().split(' ').map(Number)
      busyMs += ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0)) * 10
      stealMsPerCpu[Number(m[1])] = (f[7] ?? 0) * 10
    }
    return { busyMs, stealMsPerCpu }
  } catch {
    return null
  }
}

/**
 * The CPU list a process may run on, as Linux reports it ("0", "1", "0-1"), to record that
 * the pinning really took effect.
 *
 * @param {number} pid
 * @returns {string | null}
 */
function allowedCpus(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    return /^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1] ?? null
  } catch {
    return null
  }
}

/**
 * What the CPU counters say about one measured run: the server's CPU time, the time stolen
 * by the hypervisor per CPU, and the CPU time of everything that is neither the server nor
 * the load generator (other processes; the harness itself is a few ms).
 *
 * @param {{ server: number | null, load: number | null, system: ReturnType<typeof systemTimes> }} start
 * @param {typeof start} end
 * @param {number} childCpuMs CPU time of the load generator's child process (wrk)
 */
function measured(start, end, childCpuMs) {
  const delta = (/** @type {number | null} */ a, /** @type {number | null} */ b) =>
    a === null || b === null ? null : b - a
  const serverCpuMs = delta(start.server, end.server)
  const ownCpuMs = delta(start.load, end.load)
  // wrk runs as a child of load.mjs, which reports the child's CPU time itself
  const loadCpuMs = ownCpuMs === null ? null : ownCpuMs + childCpuMs
  const s = start.system
  const e = end.system
  const stolenMs = s && e ? e.stealMsPerCpu.map((v, i) => v - (s.stealMsPerCpu[i] ?? v)) : []
  const otherCpuMs =
    s && e && serverCpuMs !== null && loadCpuMs !== null
      ? Math.max(0, e.busyMs - s.busyMs - serverCpuMs - loadCpuMs)
      : null
  return { serverCpuMs, stolenMs, otherCpuMs }
}

/**
 * Runs the load generator (load.mjs: wrk or autocannon) against 127.0.0.1:`port`, pinned to the load
 * core: a warm-up, then the measured run. The server's CPU time is sampled when the measured
 * run starts and when its result arrives.
 *
 * @param {number} port
 * @param {number} serverPid
 * @param {ReturnType<typeof parseOptions>['options']} options
 */
function runLoad(port, serverPids, options, request) {
  const command = [
    process.execPath,
    path.join(BENCH_DIR, 'load.mjs'),
    '--url',
    `http://${HOST}:${port}${request?.path ?? '/'}`,
    '--duration',
    String(options.duration),
    '--warmup',
    String(options.warmup),
    '--connections',
    String(options.connections),
    '--pipelining',
    String(options.pipelining),
    '--tool',
    options.tool,
    ...(request === undefined ? [] : ['--request', JSON.stringify(request)]),
  ]
  const child = spawnPinned(command, pinning?.loadCpu, {})
  const stderr = tail(child.stderr)
  const limitMs = (options.warmup + options.duration + 30) * 1000
  return new Promise((resolve, reject) => {
    const sample = () => ({
      server: sumCpuTimeMs(serverPids),
      load: cpuTimeMs(/** @type {number} */ (child.pid)),
      system: systemTimes(),
    })
    let start = sample()
    let result
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`load generator did not finish within ${limitMs / 1000} s`))
    }, limitMs)
    let buffered = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      let nl = buffered.indexOf('\n')
      while (nl !== -1) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        nl = buffered.indexOf('\n')
        let msg
        try {
          msg = JSON.parse(line)
        } catch {
          continue
        }
        if (msg.event === 'measure') {
          start = sample()
        }
        if (msg.event === 'result') {
          result = { ...msg, ...measured(start, sample(), msg.childCpuMs ?? 0) }
        }
      }
    })
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (result !== undefined && code === 0) resolve(result)
      else reject(new Error(`load generator failed (exit ${code}):\n${stderr()}`))
    })
  })
}

/**
 * Whether something outside the benchmark got in the way of a run: other processes used
 * more than 2% of a core, or the hypervisor stole more than 2% of one, or both the server
 * and the load generator sat idle more than 10% of the time (in a closed loop on an
 * otherwise idle machine one of them is always the bottleneck, so neither may idle).
 *
 * @param {number | null} otherCpuShare
 * @param {number} stolenShare
 * @param {number | null} serverCpuShare
 * @param {number} loadCpuShare
 * @returns {boolean}
 */
function isDisturbed(otherCpuShare, stolenShare, serverCpuShare, loadCpuShare) {
  if ((otherCpuShare ?? 0) > 0.02 || stolenShare > 0.02) return true
  return serverCpuShare !== null && serverCpuShare < 0.9 && loadCpuShare < 0.9
}

/**
 * One measured run: start the server, check it, load it (warm-up then measurement), stop it.
 *
 * @param {Scenario} scenario
 * @param {number} round
 * @param {ReturnType<typeof parseOptions>['options']} options
 */
async function runOnce(scenario, round, options) {
  const server = await startServer(scenario)
  try {
    const request = await checkServer(scenario, server)
    const cpus = allowedCpus(server.pid)
    const pids = scenario.redis && redis !== null ? [server.pid, redis.pid] : [server.pid]
    const load = await runLoad(server.port, pids, options, request)
    // what the server holds once the load is over, before it is stopped
    const memory = residentMemory(server.pid)
    if (server.child.exitCode !== null) {
      throw new Error(`server ${scenario.name} died during the run:\n${server.stderr()}`)
    }
    const ok = load.errors === 0 && load.timeouts === 0 && load.non2xx === 0
    const otherCpuShare = load.otherCpuMs === null ? null : load.otherCpuMs / (load.seconds * 1000)
    const stolenShare = Math.max(0, ...load.stolenMs) / (load.seconds * 1000)
    const serverCpuShare =
      load.serverCpuMs === null ? null : load.serverCpuMs / (load.seconds * 1000)
    return {
      round,
      scenario: scenario.name,
      ok,
      rps: load.rps,
      requests: load.requests,
      seconds: load.seconds,
      latencyMs: load.latencyMs,
      autocannonP99Ms: load.autocannonP99Ms,
      errors: load.errors,
      timeouts: load.timeouts,
      non2xx: load.non2xx,
      serverCpus: cpus,
      serverCpuShare,
      serverCpuUsPerReq:
        load.serverCpuMs === null ? null : (load.serverCpuMs * 1000) / load.requests,
      loadCpuShare: load.loadCpuShare,
      stolenMsPerCpu: load.stolenMs,
      otherCpuShare,
      rssMiB: memory?.rssMiB ?? null,
      peakRssMiB: memory?.peakRssMiB ?? null,
      disturbed: isDisturbed(otherCpuShare, stolenShare, serverCpuShare, load.loadCpuShare),
    }
  } finally {
    await stopServer(server)
  }
}

/**
 * Checks a started server before it is measured: the seven roles of a full-stack server
 * (checks.mjs), then the measured request itself (sanityCheck), with the session cookie
 * when the scenario sends one. Returns that request.
 *
 * @param {Scenario} scenario
 * @param {Server} server
 * @returns {Promise<Scenario['request']>}
 */
async function checkServer(scenario, server) {
  if (scenario.fullStack !== undefined && server.accessLog !== null) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      await checkFullStack({
        name: scenario.name,
        fetch: (request) => get(server.port, agent, request),
        accessLog: server.accessLog,
        responseTimeHeader: scenario.fullStack,
      })
    } finally {
      agent.destroy()
    }
  }
  const request = await resolveRequest(scenario, server.port)
  await sanityCheck(scenario, server.port, request)
  return request
}

/**
 * Starts a scenario's server once and checks its answers, so that a broken scenario stops
 * the bench before the first round rather than minutes into it.
 *
 * @param {Scenario} scenario
 */
async function preflight(scenario) {
  const server = await startServer(scenario)
  try {
    await checkServer(scenario, server)
  } finally {
    await stopServer(server)
  }
}

/**
 * The request a scenario sends, with the cookies its `cookieFrom` path hands out (all of
 * them: koa-session sends its signature in a second cookie).
 *
 * @param {Scenario} scenario
 * @param {number} port
 * @returns {Promise<Scenario['request']>}
 */
async function resolveRequest(scenario, port) {
  if (scenario.cookieFrom === undefined) return scenario.request
  const res = await get(port, undefined, { path: scenario.cookieFrom })
  const cookie = cookieHeader(res.headers['set-cookie'])
  if (res.status !== 200 || cookie === '') {
    throw new Error(
      `${scenario.name}: GET ${scenario.cookieFrom} gave ${res.status}, no Set-Cookie`
    )
  }
  const request = scenario.request ?? {}
  return { ...request, headers: { ...request.headers, cookie } }
}

/**
 * Total CPU time of several processes (a server and its Redis), or null if one is unknown.
 *
 * @param {number[]} pids
 * @returns {number | null}
 */
function sumCpuTimeMs(pids) {
  let total = 0
  for (const pid of pids) {
    const ms = cpuTimeMs(pid)
    if (ms === null) return null
    total += ms
  }
  return total
}

/** @type {{ url: string, pid: number, child: import('node:child_process').ChildProcess, dir: string } | null} */
let redis = null

/**
 * Starts the run's redis-server (no persistence, in a temporary directory) on a free port,
 * pinned to the server core, and waits until it accepts connections.
 */
async function startRedis() {
  const port = await freePort()
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shallot-bench-redis-'))
  const child = spawnPinned(
    [
      'redis-server',
      '--port',
      String(port),
      '--bind',
      HOST,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    pinning?.serverCpu,
    {}
  )
  const stderr = tail(child.stderr)
  tail(child.stdout)
  const deadline = Date.now() + 10_000
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child)
      throw new Error(
        `redis-server did not start (is it installed? apt-get install redis-server):\n${stderr()}`
      )
    }
    await sleep(50)
  }
  redis = { url: `redis://${HOST}:${port}`, pid: /** @type {number} */ (child.pid), child, dir }
}

/**
 * The largest of a list of numbers, or null for none.
 *
 * @param {number[]} values
 * @returns {number | null}
 */
function maxOf(values) {
  return values.length === 0 ? null : Math.max(...values)
}

/**
 * Median of a list of numbers (mean of the two middle values for an even count).
 *
 * @param {number[]} values
 * @returns {number | null}
 */
function median(values) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const upper = sorted[mid] ?? 0
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2
}

/**
 * Per-round ratios of `a` to `b`: req/s of a over req/s of b, and CPU per request of b over
 * CPU per request of a (both > 1 when a is faster), computed only within a round, and only
 * for rounds where both runs were clean.
 *
 * @param {ReturnType<typeof runOnce> extends Promise<infer R> ? R[] : never} runs
 * @param {string} a
 * @param {string} b
 */
function ratios(runs, a, b) {
  const rounds = [...new Set(runs.map((r) => r.round))]
  const rps = []
  const cpu = []
  for (const round of rounds) {
    const ra = runs.find((r) => r.round === round && r.scenario === a && r.ok)
    const rb = runs.find((r) => r.round === round && r.scenario === b && r.ok)
    if (ra === undefined || rb === undefined) continue
    rps.push(ra.rps / rb.rps)
    if (ra.serverCpuUsPerReq !== null && rb.serverCpuUsPerReq !== null) {
      cpu.push(rb.serverCpuUsPerReq / ra.serverCpuUsPerReq)
    }
  }
  return {
    rps,
    rpsMedian: median(rps),
    rpsMin: rps.length ? Math.min(...rps) : null,
    rpsMax: rps.length ? Math.max(...rps) : null,
    cpu,
    cpuMedian: median(cpu),
  }
}

/**
 * Medians per scenario, the ratios to node:http, the head-to-head comparisons and the goals.
 *
 * @param {Scenario[]} scenarios
 * @param {ReturnType<typeof runOnce> extends Promise<infer R> ? R[] : never} runs
 */
function summarize(scenarios, runs) {
  /** @param {string} name */
  const baselineOf = (name) => scenarios.find((s) => s.name === name)?.baseline ?? BASELINE
  const rows = scenarios.map((s) => {
    const mine = runs.filter((r) => r.scenario === s.name && r.ok)
    const cpuPerReq = mine.map((r) => r.serverCpuUsPerReq).filter((v) => v !== null)
    return {
      scenario: s.name,
      description: s.description,
      runs: runs.filter((r) => r.scenario === s.name).length,
      okRuns: mine.length,
      disturbedRuns: runs.filter((r) => r.scenario === s.name && r.disturbed).length,
      rpsMedian: median(mine.map((r) => r.rps)),
      p99MsMedian: median(mine.map((r) => r.latencyMs.p99)),
      serverCpuUsPerReqMedian: median(/** @type {number[]} */ (cpuPerReq)),
      serverCpuShareMedian: median(
        /** @type {number[]} */ (mine.map((r) => r.serverCpuShare).filter((v) => v !== null))
      ),
      loadCpuShareMedian: median(mine.map((r) => r.loadCpuShare)),
      rssMiBMedian: median(
        /** @type {number[]} */ (mine.map((r) => r.rssMiB).filter((v) => v !== null))
      ),
      peakRssMiBMax: maxOf(
        /** @type {number[]} */ (mine.map((r) => r.peakRssMiB).filter((v) => v !== null))
      ),
      baseline: s.baseline ?? BASELINE,
      vsNative: ratios(runs, s.name, s.baseline ?? BASELINE),
      family: familyOf(s).id,
      reference: familyOf(s).reference,
      vsReference: ratios(
        runs,
        s.name,
        familyOf(s).id === 'layers' ? (s.baseline ?? BASELINE) : familyOf(s).reference
      ),
    }
  })
  const names = new Set(scenarios.map((s) => s.name))
  const comparisons = scenarios
    .filter((s) => s.peer !== undefined && names.has(s.peer))
    .map((s) => ({ a: s.name, b: /** @type {string} */ (s.peer), ...ratios(runs, s.name, s.peer) }))
  const goals = GOALS.filter(
    (g) => names.has(g.scenario) && (g.of === undefined || names.has(g.of))
  ).map((g) => {
    const v =
      g.of === undefined
        ? rows.find((r) => r.scenario === g.scenario)?.vsNative
        : ratios(runs, g.scenario, g.of)
    const ratio = v?.rpsMedian ?? null
    return {
      ...g,
      ratio,
      rangeMin: v?.rpsMin ?? null,
      rangeMax: v?.rpsMax ?? null,
      cpuRatio: v?.cpuMedian ?? null,
      pass: ratio !== null && ratio >= g.min,
    }
  })
  const costs = COST_GOALS.filter((g) => names.has(g.scenario) && names.has(g.peer)).map((g) => {
    const mine = overheads(runs, g.scenario, baselineOf(g.scenario))
    const theirs = overheads(runs, g.peer, baselineOf(g.peer))
    const pass =
      mine.cpu !== null &&
      theirs.cpu !== null &&
      theirs.cpu > 0 &&
      mine.cpu <= g.maxShare * theirs.cpu
    return {
      ...g,
      mine,
      theirs,
      share: mine.cpu !== null && theirs.cpu ? mine.cpu / theirs.cpu : null,
      pass,
    }
  })
  const floors = scenarios
    .filter((s) => s.floor !== undefined && names.has(s.floor))
    .map((s) => {
      const floor = /** @type {string} */ (s.floor)
      const mine = rows.find((r) => r.scenario === s.name)
      const theirs = rows.find((r) => r.scenario === floor)
      const a = mine?.serverCpuUsPerReqMedian ?? null
      const b = theirs?.serverCpuUsPerReqMedian ?? null
      return {
        scenario: s.name,
        floor,
        ratio: mine?.vsNative.rpsMedian ?? null,
        floorRatio: theirs?.vsNative.rpsMedian ?? null,
        cpuOverhead: overheads(runs, s.name, baselineOf(s.name)).cpu,
        floorCpuOverhead: overheads(runs, floor, baselineOf(floor)).cpu,
        // server CPU µs per request the scenario spends beyond its floor
        beyondUs: a !== null && b !== null ? a - b : null,
      }
    })
  return { rows, comparisons, goals, costs, floors }
}

/**
 * What a scenario adds over node:http in the same rounds: CPU per request (scenario ÷
 * node:http − 1) and req/s (1 − scenario ÷ node:http), medians of per-round values.
 *
 * @param {ReturnType<typeof runOnce> extends Promise<infer R> ? R[] : never} runs
 * @param {string} name
 * @param {string} baseline the bare node:http scenario given the same request
 */
function overheads(runs, name, baseline) {
  const r = ratios(runs, name, baseline)
  return {
    cpu: median(r.cpu.map((x) => 1 / x - 1)),
    rps: median(r.rps.map((x) => 1 - x)),
  }
}

/** @param {number | null} n @param {number} [digits] */
const fixed = (n, digits = 2) => (n === null ? 'n/a' : n.toFixed(digits))
/** @param {number | null} n */
const int = (n) => (n === null ? 'n/a' : Math.round(n).toLocaleString('en-US'))
/** @param {number | null} n */
const pct = (n) => (n === null ? 'n/a' : `${(n * 100).toFixed(1)}%`)

/**
 * What the numbers were measured on.
 *
 * @param {ReturnType<typeof resolvePinning>} pin
 */
function describeMachine(pin) {
  const cpus = os.cpus()
  return {
    cpuCount: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown CPU',
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    node: process.version,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    pinning:
      pin === null
        ? 'not pinned'
        : `server on CPU ${pin.serverCpu}, load generator and harness on CPU ${pin.loadCpu} (${pin.tool})`,
  }
}

/**
 * One progress line for a run.
 *
 * @param {Awaited<ReturnType<typeof runOnce>>} run
 * @param {number} rounds
 * @returns {string}
 */
function describeRun(run, rounds) {
  const steal = run.stolenMsPerCpu.some((ms) => ms > 0)
  return (
    `round ${run.round}/${rounds} ${run.scenario.padEnd(24)} ${int(run.rps).padStart(8)} req/s` +
    `  p99 ${fixed(run.latencyMs.p99)} ms  server CPU ${pct(run.serverCpuShare)}` +
    ` (${fixed(run.serverCpuUsPerReq)} µs/req, cpus ${run.serverCpus})` +
    `  load CPU ${pct(run.loadCpuShare)}  other CPU ${pct(run.otherCpuShare)}` +
    `${steal ? `  steal ${run.stolenMsPerCpu.join('/')} ms` : ''}` +
    `${run.disturbed ? '  DISTURBED' : ''}` +
    `${run.ok ? '' : `  NOT CLEAN: ${run.errors} errors, ${run.timeouts} timeouts, ${run.non2xx} non-2xx`}`
  )
}

/** @param {string} message */
function warn(message) {
  process.stderr.write(`[bench] warning: ${message}\n`)
}

/** @param {string} message */
function progress(message) {
  process.stderr.write(`[bench] ${message}\n`)
}

/**
 * Fails early, with the fix, when @shallot/stack has not been built.
 */
function checkBuilt() {
  try {
    const entry = fileURLToPath(import.meta.resolve('@shallot/stack'))
    accessSync(entry)
  } catch {
    throw new UsageError(
      '@shallot/stack is not built: run `pnpm -w run build` (or `pnpm bench` from the root)'
    )
  }
}

/** @type {ReturnType<typeof resolvePinning>} */
let pinning = null

/**
 * Runs the benchmark: every selected scenario once per round, in the same order each round
 * (A B C A B C …), then prints the markdown summary on stdout and writes the JSON results.
 */
async function main() {
  // `pnpm run bench -- --rounds 3` passes the `--` along: drop it.
  const argv = process.argv.slice(2)
  if (argv[0] === '--') argv.shift()
  const { options, positionals, custom, list, help } = parseOptions(argv)
  if (help) {
    process.stdout.write(HELP)
    return
  }
  if (list) {
    for (const s of [...SCENARIOS, ...custom]) process.stdout.write(`${s.name}\t${s.description}\n`)
    return
  }
  const names = options.quick && positionals.length === 0 ? QUICK_SCENARIOS : positionals
  // every scenario: the run that publishes bench/results/latest.md, and only that one
  const everything = !options.quick && positionals.length === 0 && custom.length === 0
  const published = path.join(BENCH_DIR, 'results', 'latest.md')
  if (options.md !== undefined && path.resolve(options.md) === published && !everything) {
    throw new UsageError('only a full run (`pnpm bench` with no scenario named) writes latest.md')
  }
  const scenarios = selectScenarios(names, custom)
  const memoryRun = options.memory === true || (options.memory === 'full' && everything)
  checkBuilt()
  pinning = resolvePinning(options)
  const machine = describeMachine(pinning)
  const perRun = options.warmup + options.duration + 1.5
  progress(
    `${options.quick ? 'quick smoke test: ' : ''}${scenarios.map((s) => s.name).join(', ')}: ` +
      `${options.rounds} round(s), about ` +
      `${Math.ceil((scenarios.length * (options.rounds + (options.quick ? 0 : 0.3)) * perRun) / 60)} min` +
      `${memoryRun ? ' + the session memory run' : ''}; ${machine.pinning}`
  )

  if (scenarios.some((s) => s.redis)) await startRedis()
  const startedAt = new Date()
  const runs = []
  const discarded = []
  /** @type {{ scenario: string, round: number, error: string }[]} what --quick found broken */
  const failures = []
  try {
    // --quick has one round, whose runs check the servers the same way: no preflight, and
    // a broken server is recorded and the others still run, so one run reports them all.
    if (!options.quick) for (const scenario of scenarios) await preflight(scenario)

    for (let round = 1; round <= options.rounds; round++) {
      for (const scenario of scenarios) {
        for (let attempt = 0; ; attempt++) {
          let run
          try {
            run = await runOnce(scenario, round, options)
          } catch (err) {
            if (!options.quick) throw err
            const message = err instanceof Error ? err.message : String(err)
            const prefix = `${scenario.name}: `
            const error = message.startsWith(prefix) ? message.slice(prefix.length) : message
            failures.push({ scenario: scenario.name, round, error })
            progress(`round ${round}/${options.rounds} ${scenario.name} FAILED: ${error}`)
            break
          }
          progress(describeRun(run, options.rounds))
          if (options.quick && !run.ok) {
            failures.push({
              scenario: scenario.name,
              round,
              error:
                `not clean under load: ${run.errors} socket errors, ${run.timeouts} ` +
                `timeouts, ${run.non2xx} responses with status >= 400`,
            })
          }
          if (run.disturbed && attempt < options.retries) {
            // Repeated at once, so the round keeps its order and stays short.
            discarded.push(run)
            continue
          }
          runs.push(run)
          break
        }
      }
    }
  } finally {
    if (redis !== null) {
      await stopChild(redis.child)
      rmSync(redis.dir, { recursive: true, force: true })
    }
  }

  const memory = memoryRun ? await runSessionMemory(options.memoryRequests) : null
  const summary = summarize(scenarios, runs)
  const results = path.join(BENCH_DIR, 'results')
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const out =
    options.out ?? path.join(results, options.quick ? 'quick.json' : `bench-${stamp}.json`)
  const mdFile =
    options.md ??
    (options.quick
      ? path.join(results, 'quick.md')
      : everything
        ? path.join(results, 'latest.md')
        : undefined)
  const svgFile = mdFile === undefined ? undefined : `${mdFile.replace(/\.md$/, '')}.svg`
  const report = {
    summary,
    families: FAMILIES,
    machine,
    options,
    command: commandLine(argv),
    startedAt,
    finishedAt: new Date(),
    memory,
    failures,
    chart: svgFile === undefined ? null : path.basename(svgFile),
  }
  const markdown = renderReport(report)
  mkdirSync(path.dirname(out), { recursive: true })
  const document = {
    startedAt: startedAt.toISOString(),
    finishedAt: report.finishedAt.toISOString(),
    machine,
    options,
    scenarios,
    runs,
    discardedRuns: discarded,
    failures,
    memory,
    summary,
    markdown,
  }
  writeFileSync(out, `${JSON.stringify(document, null, 2)}\n`)
  process.stdout.write(`\n${markdown}`)
  const written = [out]
  if (mdFile !== undefined && svgFile !== undefined) {
    mkdirSync(path.dirname(mdFile), { recursive: true })
    writeFileSync(mdFile, markdown)
    writeFileSync(svgFile, renderChart(report))
    written.push(mdFile, svgFile)
  }
  progress(
    `results written to ${written.map((f) => path.relative(process.cwd(), f) || f).join(', ')}`
  )
  if (failures.length > 0) {
    process.exitCode = 1
    progress(
      `FAILED: ${failures.length} run(s) broken:\n${failures.map((f) => `  ${f.scenario}: ${f.error}`).join('\n')}`
    )
  }
}

/**
 * How the run was started, for the report: `pnpm bench …` when pnpm ran the `bench` script.
 *
 * @param {string[]} argv
 */
function commandLine(argv) {
  const viaPnpm = process.env.npm_lifecycle_event === 'bench'
  return [viaPnpm ? 'pnpm bench' : 'node bench/run.mjs', ...argv].join(' ')
}

/**
 * Scenario 5 of issue 8, as part of a full run: session-memory.mjs (1,000,000 requests that
 * each create a session, MemoryStore with maxEntries 100,000), its JSON line parsed. It
 * starts its own server; it runs on both cores (it measures memory, not speed). Bounded to
 * 15 minutes; its process group is stopped with the harness.
 *
 * @param {number} requests
 * @returns {Promise<Record<string, unknown> | null>}
 */
async function runSessionMemory(requests) {
  progress(`session memory run (session-memory.mjs): ${requests.toLocaleString('en-US')} requests`)
  const script = [process.execPath, path.join(BENCH_DIR, 'session-memory.mjs')]
  script.push('--requests', String(requests))
  const both = pinning === null ? null : `${pinning.serverCpu},${pinning.loadCpu}`
  const argv = both === null ? script : [pinning?.tool ?? 'taskset', '-c', both, ...script]
  const child = spawn(/** @type {string} */ (argv[0]), argv.slice(1), {
    cwd: BENCH_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const group = {
    kill: () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    },
  }
  memoryGroups.add(group)
  const stdout = tail(child.stdout, 100_000)
  const stderr = tail(child.stderr)
  const timer = setTimeout(group.kill, 15 * 60_000)
  try {
    const code = await new Promise((resolve) => {
      child.on('exit', (c) => resolve(c))
      child.on('error', () => resolve(-1))
    })
    const line = stdout()
      .split('\n')
      .reverse()
      .find((l) => l.includes('"session-memory"'))
    if (code !== 0 || line === undefined) {
      warn(`the session memory run failed (exit ${code}):\n${stderr()}`)
      return { error: `session-memory.mjs failed (exit ${code}): ${stderr().slice(-300)}` }
    }
    return JSON.parse(line)
  } finally {
    clearTimeout(timer)
    group.kill()
    memoryGroups.delete(group)
  }
}

/** Process groups of the session memory run, killed with the harness. */
const memoryGroups = new Set()

let stopping = false
for (const [signal, code] of /** @type {const} */ ([
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
])) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    progress(`${signal}: stopping ${children.size} child process(es)`)
    for (const group of memoryGroups) group.kill()
    killAll().finally(() => process.exit(code))
  })
}
// Last resort: whatever is still running when the harness exits is killed outright.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
  for (const group of memoryGroups) group.kill()
})

main()
  .catch((err) => {
    process.exitCode = 1
    if (err instanceof UsageError) process.stderr.write(`[bench] ${err.message}\n`)
    else process.stderr.write(`[bench] failed: ${err instanceof Error ? err.stack : err}\n`)
  })
  .finally(() => killAll())
