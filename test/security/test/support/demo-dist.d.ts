/*
 * The demo builds no type declarations (examples/demo/tsconfig.json), so the types of its
 * built app come from its source. The tests run the built file, as `pnpm start` does:
 * build it first with `pnpm exec turbo run build --filter=@shallot/test-security...`.
 */
declare module '@shallot/example-demo/dist/app.js' {
  export * from '@shallot/example-demo/src/app.ts'
}
