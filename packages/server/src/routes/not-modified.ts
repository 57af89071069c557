/**
 * `If-None-Match` on a `GET` (RFC 9110 §13.1.2): the field is `*` or a list of entity tags, and a
 * `GET` compares them weakly — `W/"x"` matches `"x"`, and any tag of the list may match.
 */

/** One entity tag of a list: an optional weak prefix, then the quoted opaque tag (§8.8.3). */
const ENTITY_TAG = /(?:W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/g

/**
 * Whether a `GET` whose representation exists and carries `etag` (`undefined`: it has none, like
 * the open window) answers 304 to the request's `If-None-Match` value: the condition is false when
 * the value is `*` (a current representation exists) or one of its tags weakly matches `etag`.
 * No header, or one without a well-formed tag, never matches.
 */
export function notModified(condition: string | string[] | undefined, etag: string | undefined): boolean {
  if (condition === undefined) return false
  // Node joins repeated fields with ", ", a list like any other; an array comes from a caller.
  const value = Array.isArray(condition) ? condition.join(', ') : condition
  if (value.trim() === '*') return true
  if (etag === undefined) return false
  const opaque = opaqueTag(etag)
  for (const match of value.matchAll(ENTITY_TAG)) if (match[1] === opaque) return true
  return false
}

/** The quoted part of one of our own tags, without a weak prefix. */
function opaqueTag(etag: string): string {
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag
  return bare.slice(1, -1)
}
