/*
 * The file index: what a request can map to.
 *
 * Every file the layer serves is an entry of this index, admitted by `admit` (or by the
 * start-up scan, which applies the same rules): inside root after resolving symbolic links
 * as the policy says, no dot segment unless allowed, a regular file or a directory. The
 * index is filled at start-up, kept fresh by a recursive `fs.watch` (changes drop entries,
 * which are admitted again on their next request), and completed on demand by a `stat` of
 * the candidate path, with a bounded cache of misses.
 */
import {
  type Dirent,
  type FSWatcher,
  lstatSync,
  readdirSync,
  realpath,
  realpathSync,
  type Stats,
  stat,
  statSync,
  watch,
} from 'node:fs'
import { isAbsolute, relative, sep } from 'node:path'
import type { Resolved } from './options.js'

/** A file of the index. */
export interface FileEntry {
  readonly kind: 'file'
  /** Path from root, with `/` separators and no leading slash: `'docs/index.html'`. */
  readonly key: string
  /** Absolute path, root's real path joined with the key (symbolic links not resolved). */
  readonly abs: string
  readonly stat: Stats
  /** Reached through a symbolic link, or watching is off: check with `stat` on every request. */
  readonly live: boolean
  /** Reached through a symbolic link (its real path differs from `abs`). */
  readonly linked: boolean
  /** The contents, when kept in the memory cache. */
  body: Buffer | undefined
  /** Read since the memory cache last looked at it (second-chance LRU). */
  used: boolean
  /** What the responder precomputed for this file (headers, variants); dropped with the entry. */
  view: unknown
}

/** A directory of the index. */
export interface DirEntry {
  readonly kind: 'dir'
  readonly key: string
  readonly abs: string
  readonly stat: Stats
  readonly live: boolean
  readonly linked: boolean
}

export type Entry = FileEntry | DirEntry

/** `peek` could not decide without the file system. */
export const UNKNOWN = 0

/** Errors that mean "nothing servable there". */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP', 'EACCES', 'EPERM'])

/** Most misses remembered between two changes seen by the watcher. */
const MAX_MISSES = 10_000
/** How long changes seen by the watcher are batched before entries are dropped. */
const FLUSH_MS = 20
/** Changes batched beyond this are handled by dropping the whole index. */
const MAX_PENDING = 10_000

const SUFFIXES = ['.br', '.zst', '.gz']

export class FileIndex {
  readonly root: string
  private readonly o: Resolved
  private readonly entries = new Map<string, Entry>()
  private readonly misses = new Set<string>()
  /** Files holding a body, least recently added first. */
  private readonly lru = new Set<FileEntry>()
  private cached = 0
  /** Bumped by every change the watcher reports: an admission begun before it is not kept. */
  private generation = 0
  /** Watched directories, by key. */
  private readonly watchers = new Map<string, FSWatcher>()
  /** Whether the watchers are trusted (false: watch off, failed, or closed). */
  private active = false
  private pending = new Set<string>()
  private pendingAll = false
  private timer: NodeJS.Timeout | undefined
  private closed = false

  constructor(root: string, o: Resolved) {
    this.root = root
    this.o = o
  }

  /** Whether entries can be trusted until the watcher says otherwise. */
  get watching(): boolean {
    return this.active
  }

  /** Directories watched. */
  get watchedDirs(): number {
    return this.watchers.size
  }

  /** Entries in the index. */
  get size(): number {
    return this.entries.size
  }

  /** Bytes held by the memory cache. */
  get cachedBytes(): number {
    return this.cached
  }

  /** Misses remembered. */
  get missCount(): number {
    return this.misses.size
  }

  /**
   * Starts the watcher and scans the tree (synchronous: runs at start-up). Without a watcher
   * nothing could be trusted without a `stat` anyway: the index fills as files are asked for.
   */
  start(): void {
    if (!this.o.watch) return
    this.startWatcher()
    this.scan()
  }

  close(): void {
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.unwatch('')
    this.active = false
    this.entries.clear()
    this.misses.clear()
    for (const e of this.lru) e.body = undefined
    this.lru.clear()
    this.cached = 0
  }

  /**
   * The entry of `key` if it can be decided without the file system: an entry (trusted),
   * `null` (a remembered miss), or {@link UNKNOWN}.
   */
  peek(key: string): Entry | null | typeof UNKNOWN {
    if (!this.active) return UNKNOWN
    const e = this.entries.get(key)
    if (e !== undefined) return e.live ? UNKNOWN : e
    return this.misses.has(key) ? null : UNKNOWN
  }

  /** The entry of `key`, from the index or the file system; null when nothing is servable there. */
  lookup(key: string): Entry | null | Promise<Entry | null> {
    const known = this.peek(key)
    if (known !== UNKNOWN) return known
    return this.admit(key)
  }

  /** Forgets `entry` (its file changed under it), if it is still the current one. */
  forget(entry: Entry): void {
    if (this.entries.get(entry.key) === entry) this.remove(entry.key)
  }

  /** Whether `entry` is still the current entry of its key (a body read for it may be kept). */
  isCurrent(entry: Entry): boolean {
    return this.entries.get(entry.key) === entry
  }

  /** Keeps `body` as the contents of `entry`, within the memory budget. */
  keepBody(entry: FileEntry, body: Buffer): void {
    if (this.closed || !this.isCurrent(entry) || entry.body !== undefined) return
    if (body.length > this.o.maxFileSize) return
    entry.body = body
    this.lru.add(entry)
    this.cached += body.length
    // Second chance: a body read since it was last looked at goes to the back once.
    let guard = this.lru.size * 2
    while (this.cached > this.o.maxCacheSize && guard-- > 0) {
      const oldest = this.lru.values().next().value as FileEntry
      this.lru.delete(oldest)
      if (oldest.used && oldest !== entry) {
        oldest.used = false
        this.lru.add(oldest)
        continue
      }
      this.dropBody(oldest)
    }
  }

  private dropBody(entry: FileEntry): void {
    if (entry.body === undefined) return
    this.cached -= entry.body.length
    entry.body = undefined
    this.lru.delete(entry)
  }

  private remove(key: string): void {
    const e = this.entries.get(key)
    if (e === undefined) return
    this.entries.delete(key)
    if (e.kind === 'file') this.dropBody(e)
  }

  private add(entry: Entry): void {
    const old = this.entries.get(entry.key)
    if (old !== undefined) this.remove(entry.key)
    else if (this.entries.size >= this.o.maxEntries) {
      // Bounded: the oldest entry makes room (it is admitted again when asked for).
      const oldest = this.entries.keys().next().value as string
      this.remove(oldest)
    }
    this.entries.set(entry.key, entry)
  }

  private addMiss(key: string): void {
    if (this.misses.size >= MAX_MISSES) {
      const oldest = this.misses.values().next().value as string
      this.misses.delete(oldest)
    }
    this.misses.add(key)
  }

  /** Absolute path of a key (keys are checked by the caller: no `.`, `..`, `\`, NUL). */
  absOf(key: string): string {
    if (key === '') return this.root
    return this.root + sep + (sep === '/' ? key : key.split('/').join(sep))
  }

  /** Whether a path relative to root (OS separators) has a dot segment that the policy hides. */
  private hiddenByDotfiles(rel: string): boolean {
    if (this.o.dotfiles === 'allow') return false
    for (const seg of rel.split(sep)) {
      if (seg.charCodeAt(0) === 0x2e && seg !== '.well-known') return true
    }
    return false
  }

  /**
   * The symbolic-link policy for `abs`, whose real path is `real`: whether it may be served,
   * and whether it is reached through a link.
   */
  private allowed(abs: string, real: string): boolean {
    if (real === abs) return true
    const { symlinks } = this.o
    if (symlinks === 'deny') return false
    if (symlinks === 'follow') return true
    const rel = relative(this.root, real)
    if (rel === '') return true
    if (outside(rel)) return false
    // The target is judged as if it had been asked for by its own path.
    return !this.hiddenByDotfiles(rel)
  }

  /** Looks `key` up on disk, applying every rule, and remembers the answer. */
  admit(key: string): Promise<Entry | null> {
    const generation = this.generation
    const abs = this.absOf(key)
    // Belt and braces: whatever the key, the path must be root or inside it.
    const rel = relative(this.root, abs)
    if (outside(rel) || rel.split(sep).includes('..')) return Promise.resolve(null)
    return new Promise<Entry | null>((resolve, reject) => {
      realpath.native(abs, (err, real) => {
        if (err) {
          if (!MISSING.has((err as NodeJS.ErrnoException).code ?? '')) return reject(err)
          return resolve(this.settle(key, null, generation))
        }
        if (!this.allowed(abs, real)) {
          return resolve(this.settle(key, null, generation))
        }
        stat(real, (err2, st) => {
          if (err2) {
            if (!MISSING.has((err2 as NodeJS.ErrnoException).code ?? '')) return reject(err2)
            return resolve(this.settle(key, null, generation))
          }
          const linked = real !== abs
          // Trusted only when its directory is watched (and so are all above it).
          const live = linked || !this.active || !this.watchers.has(FileIndex.parentOf(key))
          resolve(this.settle(key, makeEntry(key, abs, st, live, linked), generation))
        })
      })
    })
  }

  /**
   * Records what `admit` found and returns the entry to use: the current one when the file
   * did not change (its precomputed headers and cached body are kept), else the new one.
   */
  private settle(key: string, entry: Entry | null, generation: number): Entry | null {
    if (this.closed) return entry
    const fresh = generation === this.generation
    if (entry === null) {
      if (fresh) {
        this.remove(key)
        // Remembered only where a watcher would report the file appearing.
        if (this.active && this.watchers.has(FileIndex.parentOf(key))) this.addMiss(key)
      }
      return null
    }
    const current = this.entries.get(key)
    if (
      current !== undefined &&
      current.kind === entry.kind &&
      current.live === entry.live &&
      current.linked === entry.linked &&
      sameFile(current.stat, entry.stat)
    ) {
      return current
    }
    if (fresh) {
      this.misses.delete(key)
      this.add(entry)
    }
    return entry
  }

  /** Key of the directory holding `key` (`''` for the root). */
  private static parentOf(key: string): string {
    const slash = key.lastIndexOf('/')
    return slash === -1 ? '' : key.slice(0, slash)
  }

  /** Whether the policy hides a directory entry named `name` (dot names, odd characters). */
  private hiddenName(name: string): boolean {
    if (name.includes('\\') || (sep === '\\' && name.includes(':'))) return true
    return name.charCodeAt(0) === 0x2e && this.o.dotfiles !== 'allow' && name !== '.well-known'
  }

  /**
   * Walks the tree at start-up, with the rules of `admit`, watching every directory it
   * enters. Entries of a directory that could not be watched are checked on every request.
   * Symbolic links to directories are left to `admit`.
   */
  private scan(): void {
    const stack: string[] = ['']
    while (stack.length > 0 && this.active) {
      const dirKey = stack.pop() as string
      const dirAbs = this.absOf(dirKey)
      let dirents: Dirent[]
      try {
        dirents = readdirSync(dirAbs, { withFileTypes: true })
      } catch {
        continue
      }
      const live = !this.watchDir(dirKey)
      if (dirKey === '') this.add(makeEntry('', dirAbs, statSync(dirAbs), live) as Entry)
      for (const d of dirents) {
        if (this.entries.size >= this.o.maxEntries || !this.active) return
        const name = d.name
        if (this.hiddenName(name)) continue
        const key = dirKey === '' ? name : `${dirKey}/${name}`
        const abs = this.absOf(key)
        try {
          if (d.isDirectory()) {
            const entry = makeEntry(key, abs, statSync(abs), live)
            if (entry !== null) this.add(entry)
            stack.push(key)
          } else if (d.isSymbolicLink()) {
            // Links to files are indexed, checked on every request (no watcher sees their
            // target change); links to directories are left to `admit`.
            const real = realpathSync.native(abs)
            if (!this.allowed(abs, real)) continue
            const st = statSync(real)
            if (st.isFile()) this.add(makeEntry(key, abs, st, true, real !== abs) as Entry)
          } else {
            const entry = makeEntry(key, abs, statSync(abs), live)
            if (entry !== null) this.add(entry)
          }
        } catch {
          // Vanished or unreadable while scanning: admitted later if it comes back.
        }
      }
    }
  }

  /*
   * Watching: one non-recursive `fs.watch` per directory of the tree (symbolic links and
   * hidden directories aside). Node 20's `recursive: true` on Linux watches every file by
   * its inode and stops reporting a file once it has been replaced by a rename (what
   * editors and build tools do to write atomically); a directory's watch reports every
   * change of its entries, whatever happens to their inodes.
   */

  /** Watches directory `key`; false when it is not watched (limit reached, or failed). */
  private watchDir(key: string): boolean {
    if (!this.active) return false
    if (this.watchers.has(key)) return true
    if (this.watchers.size >= this.o.maxEntries) return false
    let w: FSWatcher
    try {
      w = watch(this.absOf(key), { persistent: false }, (_event, name) => this.changed(key, name))
    } catch (err) {
      this.failWatcher(err)
      return false
    }
    w.on('error', (err) => this.watchError(key, err))
    this.watchers.set(key, w)
    return true
  }

  /** Stops watching `key` and every directory below it. */
  private unwatch(key: string): void {
    for (const [k, w] of this.watchers) {
      if (k === key || key === '' || k.startsWith(`${key}/`)) {
        w.close()
        this.watchers.delete(k)
      }
    }
  }

  private watchError(key: string, err: unknown): void {
    // A directory that went away may report an error (EPERM on Windows): that is a change.
    let gone = false
    try {
      gone = !statSync(this.absOf(key)).isDirectory()
    } catch {
      gone = true
    }
    if (gone && key !== '') {
      this.unwatch(key)
      this.changed(FileIndex.parentOf(key), key.slice(key.lastIndexOf('/') + 1))
      return
    }
    this.failWatcher(err)
  }

  private startWatcher(): void {
    this.active = true
    this.watchDir('')
  }

  /** Stops trusting the index: from now on every request checks its file with `stat`. */
  failWatcher(err: unknown): void {
    if (this.closed || !this.active) return
    const code = (err as NodeJS.ErrnoException)?.code ?? 'unknown error'
    process.emitWarning(
      `[@shallot/static] the file watcher failed (${code}): files are now checked with fs.stat on every request`,
      'ShallotStaticWarning'
    )
    this.active = false
    this.unwatch('')
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    // Everything known so far must be checked again before it is trusted.
    this.generation++
    this.misses.clear()
    for (const key of [...this.entries.keys()]) this.remove(key)
  }

  /** A change in directory `dir`: batched, then the entries it concerns are dropped. */
  private changed(dir: string, name: string | Buffer | null): void {
    if (this.closed || !this.active) return
    if (typeof name !== 'string' || name === '') {
      // The OS did not say what changed: the whole directory.
      if (dir === '') this.pendingAll = true
      else this.pending.add(dir)
    } else if (this.pending.size >= MAX_PENDING) {
      this.pendingAll = true
    } else {
      this.pending.add(dir === '' ? name : `${dir}/${name}`)
    }
    // The misses are no longer trustworthy as soon as anything changed.
    this.generation++
    this.misses.clear()
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS)
      this.timer.unref()
    }
  }

  private flush(): void {
    this.timer = undefined
    if (this.closed || !this.active) return
    this.generation++
    this.misses.clear()
    const names = this.pending
    const all = this.pendingAll
    this.pending = new Set()
    this.pendingAll = false
    try {
      if (!statSync(this.root).isDirectory()) throw new Error('not a directory')
    } catch (err) {
      this.failWatcher(err)
      return
    }
    if (all) {
      for (const key of [...this.entries.keys()]) this.remove(key)
      this.resync('')
      return
    }
    // Trusted entries only exist in watched directories: a change to one of those (renamed,
    // removed, replaced) is the only change that concerns entries below the changed path.
    const dirs = new Set<string>()
    for (const name of names) {
      if (this.watchers.has(name)) dirs.add(name)
      const e = this.entries.get(name)
      // A directory that appeared, went away or was replaced: watch what is there now.
      if (e === undefined || e.kind === 'dir') this.resync(name)
      this.remove(name)
      // A precompressed sibling changed: its file's variants are to be looked up again.
      for (const suffix of SUFFIXES) {
        if (name.endsWith(suffix)) this.remove(name.slice(0, -suffix.length))
      }
    }
    if (dirs.size === 0) return
    for (const key of [...this.entries.keys()]) {
      let slash = key.indexOf('/')
      while (slash !== -1) {
        if (dirs.has(key.slice(0, slash))) {
          this.remove(key)
          break
        }
        slash = key.indexOf('/', slash + 1)
      }
    }
  }

  /**
   * Makes the watchers of `key` and below match the disk: closes those of directories that
   * are gone, watches the directories that are new (a moved-in tree included).
   */
  private resync(key: string): void {
    if (key !== '') {
      const parent = FileIndex.parentOf(key)
      const name = key.slice(key.lastIndexOf('/') + 1)
      let isDir = false
      try {
        isDir = lstatSync(this.absOf(key)).isDirectory()
      } catch {
        isDir = false
      }
      if (!isDir || !this.watchers.has(parent) || this.hiddenName(name)) {
        this.unwatch(key)
        return
      }
    }
    const stack = [key]
    while (stack.length > 0 && this.active) {
      const dirKey = stack.pop() as string
      let dirents: Dirent[]
      try {
        dirents = readdirSync(this.absOf(dirKey), { withFileTypes: true })
      } catch {
        this.unwatch(dirKey)
        continue
      }
      if (!this.watchDir(dirKey)) continue
      const present = new Set<string>()
      for (const d of dirents) {
        if (!d.isDirectory() || this.hiddenName(d.name)) continue
        const child = dirKey === '' ? d.name : `${dirKey}/${d.name}`
        present.add(child)
        stack.push(child)
      }
      // Watched children that are no longer directories here.
      for (const k of [...this.watchers.keys()]) {
        if (FileIndex.parentOf(k) === dirKey && k !== dirKey && !present.has(k)) this.unwatch(k)
      }
    }
  }
}

function makeEntry(
  key: string,
  abs: string,
  st: Stats,
  live: boolean,
  linked = false
): Entry | null {
  if (st.isDirectory()) return { kind: 'dir', key, abs, stat: st, live, linked }
  // FIFOs, sockets, devices: never served (opening a FIFO would block).
  if (!st.isFile()) return null
  return {
    kind: 'file',
    key,
    abs,
    stat: st,
    live,
    linked,
    body: undefined,
    used: false,
    view: undefined,
  }
}

/** Whether a `path.relative` result leaves the directory it is relative to. */
function outside(rel: string): boolean {
  return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)
}

/** Whether two stats describe the same version of the same file. */
export function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs
}
