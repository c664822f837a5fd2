// The demo's build has no declarations (examples/demo builds with `declaration: false`): the
// part of examples/demo/src/app.ts these tests use, typed here. Runtime imports go to its
// built files, as the demo server runs them.
declare module '@shallot/example-demo/dist/app.js' {
  import type { ReadinessCheck } from '@shallot/monitoring'
  import type { SessionStore } from '@shallot/session'
  import type { Handler, Middleware } from '@shallot/stack'

  export interface AppOptions {
    accessLog?: Middleware
    publicDir?: string | URL
    apiKeys?: readonly string[]
    sessionSecret?: string
    sessionStore?: SessionStore
    checks?: Readonly<Record<string, ReadinessCheck>>
  }
  export const DEFAULT_API_KEYS: readonly string[]
  export const CORS_ORIGIN: string
  export function createApp(options?: AppOptions): Handler
}
