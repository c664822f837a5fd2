/**
 * The real processes of these tests: shallot-serve (the built CLI of @shallot/serve, run with
 * node), nginx (Debian's, in the foreground, with a prefix in a temporary directory), and a
 * self-signed certificate made by openssl. Every process runs in its own process group, which
 * `stopAll()` kills (workers and nginx workers included); so does the runner's exit.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, type GroupProcess, spawnGroup } from '@shallot/test-utils'
import { type Substitutions, testNginxConfig } from './recipe.js'

/** test/proxy: the working directory of shallot-serve, so `--primary @shallot/...` resolves. */
export const PACKAGE_DIR: string = fileURLToPath(new URL('..', import.meta.url))
export const FIXTURES: string = fileURLToPath(new URL('./fixtures/', import.meta.url))
const CLI = fileURLToPath(new URL('../node_modules/@shallot/serve/dist/cli.js', import.meta.url))
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? 'nginx'
const OPENSSL = existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl'

/** A child process in its own group, its output kept line by line. */
export type Proc = GroupProcess

const procs = new Set<Proc>()
const tempDirs = new Set<string>()

process.once('exit', () => {
  for (const p of procs) p.signalGroup('SIGKILL')
})

function run(
  name: string,
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}
): Proc {
  const proc = spawnGroup(name, command, args, {
    cwd: options.cwd ?? PACKAGE_DIR,
    env: { ...process.env, ...options.env },
  })
  procs.add(proc)
  return proc
}

/** A temporary directory, removed by stopAll(). Readable by nginx's workers (user nobody). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755)
  tempDirs.add(dir)
  return dir
}

/** Kills every process started here (SIGTERM, then SIGKILL after 3 s) and removes the temp dirs. */
export async function stopAll(): Promise<void> {
  const left = [...procs]
  procs.clear()
  for (const p of left) p.signalGroup('SIGTERM')
  await Promise.all(
    left.map(async (p) => {
      const timer = setTimeout(() => p.signalGroup('SIGKILL'), 3000)
      await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))])
      clearTimeout(timer)
      // The group may hold children the leader left behind.
      p.signalGroup('SIGKILL')
    })
  )
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

export interface Serving extends Proc {
  port: number
  /** The workers' pids, from the `listening` lines. */
  workers: number[]
}

/**
 * Runs `shallot-serve <fixture> --host 127.0.0.1 --port 0 ...args` from test/proxy and waits
 * for its ready line (bounded).
 */
export async function shallotServe(
  fixture: string,
  args: string[],
  env: NodeJS.ProcessEnv = {}
): Promise<Serving> {
  if (!existsSync(CLI)) {
    throw new Error(
      `${CLI} is missing: build first (pnpm exec turbo run build --filter=@shallot/test-proxy...)`
    )
  }
  const p = run(
    'shallot-serve',
    process.execPath,
    [CLI, join(FIXTURES, fixture), '--host', '127.0.0.1', '--port', '0', ...args],
    { env }
  )
  const m = await p.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+) \((\d+) workers?,/, {
    stream: 'stderr',
    ms: 20_000,
  })
  const workers = p.stderr.flatMap((l) => {
    const w = /worker \d+ \(pid (\d+)\) listening/.exec(l)
    return w === null ? [] : [Number(w[1])]
  })
  return Object.assign(p, { port: Number(m[1]), workers })
}

/** A self-signed certificate for localhost and 127.0.0.1, valid one day. */
export function selfSignedCertificate(dir: string): { certificate: string; key: string } {
  const certificate = join(dir, 'localhost.pem')
  const key = join(dir, 'localhost.key')
  execFileSync(
    OPENSSL,
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      certificate,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 }
  )
  return { certificate, key }
}

export interface Nginx extends Proc {
  httpPort: number
  httpsPort: number
  /** The certificate nginx presents, to trust in the client. */
  ca: string
  /** The directory of `location /static/`. */
  publicDir: string
  /** The configuration nginx runs: the recipe's, substituted. */
  config: string
}

/** Resolves once something accepts connections on 127.0.0.1:port; bounded. */
async function accepting(port: number, proc: Proc, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (proc.child.exitCode !== null) throw new Error(`nginx exited at start-up\n${proc.output()}`)
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}\n${proc.output()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * Starts nginx with the recipe's configuration in front of the application on `appPort`:
 * free ports for http and https, a fresh certificate, a static directory with `files`.
 * Its main configuration is the part of Debian's nginx.conf the recipe relies on (the http
 * block, mime.types), with everything written under a temporary prefix.
 */
export async function startNginx(appPort: number, files: Record<string, string>): Promise<Nginx> {
  const dir = tempDir('shallot-proxy-nginx-')
  const publicDir = join(dir, 'public')
  mkdirSync(publicDir, { mode: 0o755 })
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(publicDir, name), text, { mode: 0o644 })
  }
  mkdirSync(join(dir, 'logs'))
  mkdirSync(join(dir, 'tmp'))
  const { certificate, key } = selfSignedCertificate(dir)
  const s: Substitutions = {
    appPort,
    httpPort: await freePort(),
    httpsPort: await freePort(),
    certificate,
    key,
    publicDir: `${publicDir}/`,
  }
  const config = testNginxConfig(s)
  writeFileSync(join(dir, 'shallot.conf'), config)
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
events {
    worker_connections 256;
}
http {
    sendfile on;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log ${dir}/logs/access.log;
    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    include ${dir}/shallot.conf;
}
`
  )
  const p = run('nginx', NGINX, [
    '-p',
    dir,
    '-c',
    join(dir, 'nginx.conf'),
    '-g',
    `daemon off; pid ${dir}/nginx.pid; error_log stderr;`,
  ])
  await accepting(s.httpPort, p)
  await accepting(s.httpsPort, p)
  return Object.assign(p, {
    httpPort: s.httpPort,
    httpsPort: s.httpsPort,
    ca: certificate,
    publicDir,
    config,
  })
}
