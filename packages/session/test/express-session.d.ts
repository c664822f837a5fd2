// express-session ships no types; the tests use only its MemoryStore.
declare module 'express-session' {
  interface Store {
    get(sid: string, callback: (err: unknown, session?: unknown) => void): void
    set(sid: string, session: unknown, callback?: (err?: unknown) => void): void
    destroy(sid: string, callback?: (err?: unknown) => void): void
    touch?(sid: string, session: unknown, callback?: (err?: unknown) => void): void
    clear?(callback?: (err?: unknown) => void): void
    length?(callback: (err: unknown, length?: number) => void): void
    all?(callback: (err: unknown, sessions?: Record<string, unknown>) => void): void
  }
  const session: { MemoryStore: new () => Store }
  export default session
}
