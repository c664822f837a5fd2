import { describe } from './recorder.js'

/** Throws the start-up TypeError for a bad option: `[@shallot/timing] option "x" must be ..., got ...`. */
export function badOption(name: string, expectation: string, value: unknown): never {
  throw new TypeError(
    `[@shallot/timing] option "${name}" must be ${expectation}, got ${describe(value)}`
  )
}

/** Options of the peers (Hono's timing) and what to use instead. */
const HINTS: Readonly<Record<string, string>> = {
  enabled: 'use "expose"',
  crossOrigin: 'use "expose: { origins }", which also sends Timing-Allow-Origin',
  precision: 'use "digits"',
  autoEnd: 'open marks are always ended when the head is written',
}

/**
 * Checks that the options argument is a plain object (or undefined) with only `known` keys:
 * a misspelt or foreign option (Hono's `enabled`) fails at start-up instead of being ignored.
 */
export function checkOptionsObject(
  options: unknown,
  factory: string,
  known: readonly string[]
): void {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(
      `[@shallot/timing] ${factory}(options): options must be an object, got ${describe(options)}`
    )
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const hint = HINTS[key]
      throw new TypeError(
        `[@shallot/timing] ${factory}(options): unknown option "${key}" (${hint ?? `known: ${known.join(', ')}`})`
      )
    }
  }
}

/** An integer in [min, max], or the default when undefined. */
export function integerOption(
  name: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    badOption(name, `an integer from ${min} to ${max}`, value)
  }
  return value
}

/** A boolean, or the default when undefined. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') badOption(name, 'a boolean', value)
  return value
}
