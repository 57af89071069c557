/**
 * The text of each message of a JSON append body, sliced from the body instead of serialized again.
 * A batch of 100-byte mutations spends about as long in `JSON.stringify` of each stored mutation as
 * in `JSON.parse` of the whole body; the body already holds that text.
 *
 * A slice is given only where it is what `JSON.stringify` of the parsed message writes, but for
 * key order (a value equal all the same). A repeated key (`{"a":1,"a":2}`, which `JSON.parse`
 * reads as `{"a":2}` and another parser may read as `{"a":1}`) is found by counting: when the
 * body's text has more keys than the parsed value has members, nothing is sliced. Also:
 * - no whitespace outside strings;
 * - strings escape only `"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f` (no `\u`, no `\/`);
 * - numbers as `JSON.stringify` writes them: no exponent, no trailing zero in a fraction, no `-0`,
 *   at most 15 significant digits (so the digits are the shortest that round-trip), and no
 *   fraction of six or more leading zeros (written with an exponent).
 * Every other message is serialized as before.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const MINUS = 0x2d
const ZERO = 0x30
const NINE = 0x39
const DOT = 0x2e
/** Significant digits every double with that many has as its shortest round-trip form. */
const MAX_DIGITS = 15

/**
 * The text of each element of `text`, a JSON array that `JSON.parse` accepted, in order;
 * `undefined` for an element that must be serialized instead. `undefined` altogether when `text`
 * is not an array of `count` elements, or (given `members`, the object members the parsed value
 * holds at every depth) when its keys are not as many: the caller then serializes every message.
 */
export function elementTexts(text: string, count: number, members?: number): Array<string | undefined> | undefined {
  const end = text.length
  let i = skipSpace(text, 0)
  if (text.charCodeAt(i) !== OPEN_ARRAY) return undefined
  const out: Array<string | undefined> = []
  i = skipSpace(text, i + 1)
  if (text.charCodeAt(i) === CLOSE_ARRAY) return count === 0 ? out : undefined
  let start = i
  let depth = 0
  let compact = true
  /** Strings followed by a colon: keys, of objects at every depth. */
  let keys = 0
  // The next backslash at or after where strings are searched (`end` when none), kept until passed:
  // strings are crossed by native searches, and the body is searched for backslashes only once.
  let backslash = -1
  while (i < end) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      // Past the string: its closing quote is the first one not escaped.
      let from = i + 1
      for (;;) {
        const quote = text.indexOf('"', from)
        if (backslash < from) {
          backslash = text.indexOf('\\', from)
          if (backslash === -1) backslash = end
        }
        if (quote === -1) return undefined
        if (backslash > quote) {
          i = quote + 1
          if (text.charCodeAt(i) === COLON) keys += 1
          break
        }
        if (!USUAL_ESCAPES.has(text.charCodeAt(backslash + 1))) compact = false
        from = backslash + 2
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth += 1
      i += 1
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT || c === COMMA) {
      if (depth === 0) {
        // The end of an element: trailing space belongs to the array, not to the element.
        out.push(compact ? text.slice(start, trimEnd(text, start, i)) : undefined)
        if (c === CLOSE_ARRAY) return out.length === count && (members === undefined || keys === members) ? out : undefined
        i = skipSpace(text, i + 1)
        start = i
        compact = true
        continue
      }
      if (c !== COMMA) depth -= 1
      i += 1
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      const next = numberEnd(text, i)
      if (!plainNumber(text, i, next)) compact = false
      i = next
    } else if (isSpace(c)) {
      // Space between this element's tokens (not after its end: that is trimmed above).
      const next = skipSpace(text, i)
      const after = text.charCodeAt(next)
      if (!(depth === 0 && (after === COMMA || after === CLOSE_ARRAY))) compact = false
      i = next
    } else {
      // true, false, null
      i += 1
    }
  }
  return undefined
}

/** The escapes `JSON.stringify` writes (besides `\u00XX` for other control characters). */
const USUAL_ESCAPES = new Set([QUOTE, BACKSLASH, 0x6e, 0x72, 0x74, 0x62, 0x66])

function numberEnd(text: string, i: number): number {
  let j = i + 1
  for (; j < text.length; j++) {
    const c = text.charCodeAt(j)
    // Digits, '.', '-', '+', 'e', 'E'.
    if (!((c >= ZERO && c <= NINE) || c === DOT || c === MINUS || c === 0x2b || c === 0x65 || c === 0x45)) break
  }
  return j
}

/** True for a number token written as `JSON.stringify` writes the number it parses to. */
function plainNumber(text: string, from: number, to: number): boolean {
  let j = text.charCodeAt(from) === MINUS ? from + 1 : from
  // "-0" alone is written "0".
  if (j > from && to === j + 1 && text.charCodeAt(j) === ZERO) return false
  let significant = 0
  let leadingZeros = true
  let fractionZeros = 0
  let inFraction = false
  for (; j < to; j++) {
    const c = text.charCodeAt(j)
    if (c === DOT) {
      inFraction = true
      continue
    }
    if (c < ZERO || c > NINE) return false // an exponent
    if (c === ZERO && leadingZeros) {
      if (inFraction) fractionZeros += 1
      continue
    }
    leadingZeros = false
    significant += 1
  }
  if (significant > MAX_DIGITS || fractionZeros >= 6) return false
  // No trailing zero in a fraction ("1.50", "2.0").
  return !(inFraction && text.charCodeAt(to - 1) === ZERO)
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  return i
}

function trimEnd(text: string, start: number, i: number): number {
  while (i > start && isSpace(text.charCodeAt(i - 1))) i--
  return i
}
