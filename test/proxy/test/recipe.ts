/**
 * The nginx configuration of docs/recipes/behind-nginx.md, read from the markdown itself, so
 * that the configuration the page shows is the one the tests run. Only what must differ on a
 * test machine is substituted (ports, the certificate, the static directory), each exactly
 * once: a change to those lines in the recipe fails here instead of testing something else.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const RECIPE: string = fileURLToPath(
  new URL('../../../docs/recipes/behind-nginx.md', import.meta.url)
)

/** The first line of the configuration's block, which names the file. */
const MARKER = '# /etc/nginx/conf.d/shallot.conf'

/** The text of the recipe's nginx block (a `text` block: the recipe runner refuses `nginx`). */
export function recipeNginxConfig(markdown: string = readFileSync(RECIPE, 'utf8')): string {
  const blocks: { lang: string; code: string }[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)/.exec(lines[i] as string)
    if (open === null) continue
    const end = lines.findIndex((l, j) => j > i && l.trimEnd() === '```')
    if (end === -1) throw new Error(`${RECIPE}:${i + 1}: unclosed code fence`)
    blocks.push({ lang: open[1] ?? '', code: lines.slice(i + 1, end).join('\n') })
    i = end
  }
  const found = blocks.filter((b) => b.lang === 'text' && b.code.startsWith(`${MARKER}\n`))
  if (found.length !== 1) {
    throw new Error(
      `${RECIPE}: expected one text block starting with "${MARKER}", found ${found.length}`
    )
  }
  return (found[0] as { code: string }).code
}

export interface Substitutions {
  /** The port shallot-serve listens on (the recipe's 127.0.0.1:8000). */
  appPort: number
  /** Where nginx listens for http (the recipe's port 80), on 127.0.0.1. */
  httpPort: number
  /** Where nginx listens for https (the recipe's port 443), on 127.0.0.1. */
  httpsPort: number
  certificate: string
  key: string
  /** The directory of `location /static/` (the recipe's /srv/app/public/), with a final slash. */
  publicDir: string
}

/** Replaces the one line that matches `re` (outside comments), or throws. */
function once(config: string, re: RegExp, replacement: string): string {
  const global = new RegExp(re.source, 'gm')
  const count = [...config.matchAll(global)].length
  if (count !== 1) {
    throw new Error(`the recipe's nginx configuration has ${count} lines matching ${re}, not 1`)
  }
  return config.replace(global, (_all, indent: string) => `${indent}${replacement}`)
}

/** The recipe's configuration with this machine's ports and paths. */
export function testNginxConfig(s: Substitutions, config: string = recipeNginxConfig()): string {
  let c = config
  c = once(c, /^(\s*)server 127\.0\.0\.1:8000;/, `server 127.0.0.1:${s.appPort};`)
  c = once(c, /^(\s*)listen 443 ssl;/, `listen 127.0.0.1:${s.httpsPort} ssl;`)
  c = once(c, /^(\s*)listen 80;/, `listen 127.0.0.1:${s.httpPort};`)
  c = once(c, /^(\s*)ssl_certificate \S+;/, `ssl_certificate ${s.certificate};`)
  c = once(c, /^(\s*)ssl_certificate_key \S+;/, `ssl_certificate_key ${s.key};`)
  c = once(c, /^(\s*)alias \/srv\/app\/public\/;/, `alias ${s.publicDir};`)
  return c
}

/** A directive's seconds in the recipe's configuration, e.g. `keepalive_timeout 60s;`. */
export function seconds(config: string, directive: string): number {
  const matches = [...config.matchAll(new RegExp(`^\\s*${directive} (\\d+)s;`, 'gm'))]
  if (matches.length !== 1) {
    throw new Error(`expected one "${directive} <n>s;" in the recipe, found ${matches.length}`)
  }
  return Number((matches[0] as RegExpMatchArray)[1])
}
