import { optionError } from './challenge.js'
import { SecretTable } from './compare.js'

/**
 * Hashes configured secrets into a table: a list (the principal is the position, from 0),
 * a record or a Map (secret → principal). Empty and duplicate secrets are refused.
 * @internal
 */
export function secretTable(scheme: string, name: string, value: unknown): SecretTable<unknown> {
  const table = new SecretTable<unknown>()
  let entries: Iterable<readonly [unknown, unknown]>
  if (Array.isArray(value)) entries = value.map((secret, i) => [secret, i] as const)
  else if (value instanceof Map) entries = value.entries()
  else if (typeof value === 'object' && value !== null) entries = Object.entries(value)
  else {
    optionError(scheme, name, 'must be a list of secrets or an object mapping secret → principal')
  }
  for (const [secret, principal] of entries) {
    if (typeof secret !== 'string' || secret === '') {
      optionError(scheme, name, 'must hold non-empty strings')
    }
    if (principal === undefined || principal === null || principal === false) {
      optionError(
        scheme,
        name,
        'must map each secret to a principal (not false, null or undefined)'
      )
    }
    if (!table.add(secret, principal)) {
      // The message must not contain the secret: start-up errors end up in logs.
      optionError(scheme, name, 'holds the same secret twice')
    }
  }
  if (table.size === 0) optionError(scheme, name, 'must hold at least one secret')
  return table
}
