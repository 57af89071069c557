/**
 * What a token grants: the `scope` claim's grants, and the one decision of access control, "may
 * these grants do this action on this stream?". Pure: no keys, no requests.
 *
 *   read:<prefix>    read the streams under <prefix> (catch-up, live, history, state)
 *   write:<prefix>   append to them (POST, PUT /v1/state)
 *   admin            everything, on every stream: create, delete, fork, close, list
 *
 * A prefix ends at a segment boundary: `read:weather/` grants `weather/a` (not `weather` itself,
 * nor `weatherx`); `read:weather` grants `weather` and everything under `weather/`; `read:*` grants
 * every stream (and `read:weather/*` is `read:weather/`). Other scopes a token carries (an identity
 * provider's `openid`, say) grant nothing here and are ignored.
 */

/** What a request does to a stream. */
export type Action = 'read' | 'write' | 'admin'

/** The grants of one token. */
export interface Grants {
  admin: boolean
  /** Prefixes per action; `''` is every stream. */
  read: readonly string[]
  write: readonly string[]
}

/** No grant at all. */
export const NO_GRANTS: Grants = { admin: false, read: [], write: [] }

/**
 * The grants of a `scope` claim: a space-separated string (RFC 8693 §4.2) or an array of grant
 * strings. Anything else grants nothing.
 */
export function parseGrants(scope: unknown): Grants {
  const items = typeof scope === 'string' ? scope.split(' ') : Array.isArray(scope) ? scope : []
  let admin = false
  const read: string[] = []
  const write: string[] = []
  for (const item of items) {
    if (typeof item !== 'string') continue
    if (item === 'admin') {
      admin = true
      continue
    }
    const colon = item.indexOf(':')
    if (colon === -1) continue
    const action = item.slice(0, colon)
    const prefix = normalPrefix(item.slice(colon + 1))
    if (prefix === undefined) continue
    if (action === 'read') read.push(prefix)
    else if (action === 'write') write.push(prefix)
  }
  return { admin, read, write }
}

/** `*` → `''` (every stream), `p/*` → `p/`; `undefined` for an empty prefix (no grant). */
function normalPrefix(prefix: string): string | undefined {
  if (prefix === '*') return ''
  if (prefix.endsWith('/*')) return prefix.slice(0, -1)
  return prefix === '' ? undefined : prefix
}

/** True when `prefix` (normalised) covers stream `name`. */
export function covers(prefix: string, name: string): boolean {
  if (prefix === '') return true
  if (prefix.endsWith('/')) return name.startsWith(prefix)
  return name === prefix || (name.startsWith(prefix) && name.charCodeAt(prefix.length) === 0x2f)
}

/** True when `grants` allow `action` on stream `name` (`admin` actions need `admin`). */
export function allows(grants: Grants, action: Action, name: string): boolean {
  if (grants.admin) return true
  if (action === 'admin') return false
  return (action === 'read' ? grants.read : grants.write).some((prefix) => covers(prefix, name))
}
