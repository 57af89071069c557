/**
 * An entry as a person reads it: the change it made to the state, not the mutation's syntax.
 *
 *   2024-01-01T06:25:00.000Z  weather/a  #12  t: 21.4 → 21.5  +rain: 0  -gust
 *
 * The change is the JSON Patch from the state before to the state after (`diff` of common), so a
 * merge, a patch and a whole `set` that do the same thing read the same. Values are compact JSON,
 * cut short when long.
 */
import { diff, parsePointer } from '@statestream/common'
import type { Json } from '@statestream/common'
import { formatTime } from './time.ts'

/** Longest rendering of one value before it is cut with an ellipsis. */
const VALUE_MAX = 60
/** Most changes listed on one line; the rest are counted. */
const CHANGES_MAX = 8

/** One line for an entry that took `stream` from `before` to `after`. */
export function changeLine(stream: string, seq: number, ts: number, before: Json, after: Json): string {
  return `${formatTime(ts)}  ${stream}  #${seq}  ${describeChange(before, after)}`
}

/** One line for a stream's current state, the first thing a tail shows. */
export function stateLine(stream: string, seq: number, ts: number, state: Json): string {
  return `${formatTime(ts)}  ${stream}  #${seq}  = ${value(state, 200)}`
}

/** The change from `before` to `after`, in words: `path: old → new`, `+path: value`, `-path`. */
export function describeChange(before: Json, after: Json): string {
  const ops = diff(before, after)
  if (ops.length === 0) return '(no change)'
  const parts: string[] = []
  for (const op of ops.slice(0, CHANGES_MAX)) {
    const path = readablePath(op.path)
    switch (op.op) {
      case 'add':
        parts.push(`+${path}: ${value(op.value)}`)
        break
      case 'remove':
        parts.push(`-${path}`)
        break
      case 'replace':
        parts.push(`${path}: ${value(at(before, op.path))} → ${value(op.value)}`)
        break
      default:
        parts.push(`${op.op} ${path}`)
    }
  }
  if (ops.length > CHANGES_MAX) parts.push(`(+${ops.length - CHANGES_MAX} more)`)
  return parts.join('  ')
}

/** A JSON Pointer as a dotted path (`/a/0/b` → `a[0].b`; the root is `.`). */
function readablePath(pointer: string): string {
  const tokens = parsePointer(pointer)
  if (tokens.length === 0) return '.'
  let out = ''
  for (const token of tokens) {
    if (/^\d+$/.test(token)) out += `[${token}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(token)) out += out === '' ? token : `.${token}`
    else out += `[${JSON.stringify(token)}]`
  }
  return out
}

function at(state: Json, pointer: string): Json {
  let node: Json | undefined = state
  for (const token of parsePointer(pointer)) {
    if (node === null || typeof node !== 'object') return null
    node = Array.isArray(node) ? node[Number(token)] : node[token]
  }
  return node ?? null
}

function value(json: Json, max = VALUE_MAX): string {
  const text = JSON.stringify(json)
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
