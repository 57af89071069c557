/**
 * What a window answer cut short still holds. The body is `{ "stream", "start": {…}, "entries":
 * [{…}, …], "end", "nextOffset" }`: a prefix of it that holds the whole `start` holds every entry
 * whose closing brace arrived, and those are facts (entries never change). A fetch cut halfway
 * keeps them, and the next asks only for the entries `after` the last one. Pure: text in, data out.
 */
import type { Entry, Snapshot } from '@statestream/common'

/** The start and the complete entries of a window answer's prefix, or `undefined` when it holds no whole start. */
export function salvageWindow(text: string): { start: Snapshot; entries: Entry[] } | undefined {
  let depth = 0
  let inString = false
  let escaped = false
  /** Whether a string at depth 1 is a member name (not a value). */
  let expectKey = false
  let keyFrom = -1
  let key = ''
  let valueFrom = -1
  let elementFrom = -1
  let startText: string | undefined
  const entries: string[] = []
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (escaped) escaped = false
      else if (c === 0x5c) escaped = true
      else if (c === 0x22) {
        inString = false
        if (keyFrom !== -1) {
          key = text.slice(keyFrom + 1, i)
          keyFrom = -1
        }
      }
      continue
    }
    switch (c) {
      case 0x22: // "
        inString = true
        if (depth === 1 && expectKey) keyFrom = i
        break
      case 0x7b: // {
      case 0x5b: // [
        if (depth === 1) valueFrom = i
        else if (depth === 2 && key === 'entries' && c === 0x7b) elementFrom = i
        depth += 1
        if (depth === 1) expectKey = true
        break
      case 0x7d: // }
      case 0x5d: // ]
        depth -= 1
        if (depth === 1 && key === 'start' && valueFrom !== -1) startText = text.slice(valueFrom, i + 1)
        else if (depth === 2 && key === 'entries' && elementFrom !== -1) {
          entries.push(text.slice(elementFrom, i + 1))
          elementFrom = -1
        }
        if (depth === 1) valueFrom = -1
        break
      case 0x3a: // :
        if (depth === 1) expectKey = false
        break
      case 0x2c: // ,
        if (depth === 1) expectKey = true
        break
    }
  }
  if (startText === undefined) return undefined
  try {
    const start = JSON.parse(startText) as Snapshot
    if (typeof start?.seq !== 'number' || typeof start.ts !== 'number') return undefined
    return { start, entries: JSON.parse(`[${entries.join(',')}]`) as Entry[] }
  } catch {
    // A prefix that is not what the server sends: keep nothing of it.
    return undefined
  }
}
