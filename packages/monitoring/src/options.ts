/** Prefix of every message this package throws or warns with. @internal */
export const PKG = '[@shallot/monitoring]'

/** A short, safe description of a value for an error message. @internal */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return `an array (${value.length} items)`
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value)
    case 'undefined':
      return 'undefined'
    case 'function':
      return 'a function'
    case 'symbol':
      return 'a symbol'
    default:
      return 'an object'
  }
}

/** Throws the start-up TypeError for a bad option: `[@shallot/monitoring] option "x" must be ..., got ...`. @internal */
export function badOption(name: string, expectation: string, value: unknown): never {
  throw new TypeError(`${PKG} option "${name}" must be ${expectation}, got ${describe(value)}`)
}

/** A plain object, not an array or null. @internal */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Checks that an options argument is a plain object (or undefined) with only `known` keys,
 * so that a misspelt or foreign option (express-prom-bundle's `includePath`) fails at
 * start-up instead of being ignored. `hints` maps foreign names to what to use instead.
 * @internal
 */
export function checkKeys(
  options: unknown,
  where: string,
  known: readonly string[],
  hints: Readonly<Record<string, string>> = {}
): void {
  if (options === undefined) return
  if (!isPlainObject(options)) {
    throw new TypeError(`${PKG} ${where}: options must be an object, got ${describe(options)}`)
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const hint = hints[key]
      throw new TypeError(
        `${PKG} ${where}: unknown option "${key}" (${hint ?? `known: ${known.join(', ')}`})`
      )
    }
  }
}

/** An integer in [min, max], or the default when undefined. @internal */
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

/** A boolean, or the default when undefined. @internal */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') badOption(name, 'a boolean', value)
  return value
}

/** A non-empty, strictly increasing list of finite numbers >= 0. @internal */
export function bucketsOption(
  name: string,
  value: unknown,
  fallback: readonly number[]
): readonly number[] {
  if (value === undefined) return fallback
  const expectation =
    'a non-empty array of finite numbers >= 0 in strictly increasing order (at most 100)'
  if (!Array.isArray(value) || value.length === 0 || value.length > 100) {
    return badOption(name, expectation, value)
  }
  let previous = -1
  for (const b of value as unknown[]) {
    if (typeof b !== 'number' || !Number.isFinite(b) || b < 0 || b <= previous) {
      badOption(name, expectation, value)
    }
    previous = b as number
  }
  return Object.freeze([...(value as number[])])
}
