/**
 * Structural sharing between two equal-ish JSON values: lets a freshly parsed state reuse the
 * subtrees a held one already has, so two windows' start states cost little more than one.
 */
import type { Json } from '@statestream/common'

/**
 * `fresh` (a JSON value) with every subtree equal to the one at the same place in `shared` taken
 * from `shared`, member order included; `shared` itself when they are equal throughout. Neither is
 * changed: containers that differ are new.
 */
export function shareEqual(fresh: Json, shared: Json): Json {
  if (fresh === shared || typeof fresh !== 'object' || fresh === null) return fresh === shared ? shared : fresh
  if (typeof shared !== 'object' || shared === null) return fresh
  if (Array.isArray(fresh)) {
    if (!Array.isArray(shared)) return fresh
    let same = fresh.length === shared.length
    const out = fresh.map((value, i) => {
      const taken = i < shared.length ? shareEqual(value, shared[i] as Json) : value
      same &&= taken === shared[i]
      return taken
    })
    return same ? shared : out
  }
  if (Array.isArray(shared)) return fresh
  const keys = Object.keys(fresh)
  const sharedKeys = Object.keys(shared)
  let same = keys.length === sharedKeys.length
  const out: { [key: string]: Json } = {}
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string
    const value = fresh[key] as Json
    const taken = Object.hasOwn(shared, key) ? shareEqual(value, shared[key] as Json) : value
    same &&= sharedKeys[i] === key && taken === shared[key]
    // A `__proto__` member must stay an own data property (plain assignment would set the prototype).
    if (key === '__proto__') Object.defineProperty(out, key, { value: taken, writable: true, enumerable: true, configurable: true })
    else out[key] = taken
  }
  return same ? shared : out
}
