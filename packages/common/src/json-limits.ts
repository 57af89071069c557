/**
 * Limits on the shape of JSON a server accepts, and serialisation that works at any depth.
 *
 * Every function here walks with an explicit stack, never by recursion: a value nested a million
 * levels deep (which `JSON.parse` builds without complaint) is measured, refused or written like
 * any other. What a server accepts is kept within `MAX_JSON_DEPTH`, so the recursive code that
 * reads it (the engines' own `JSON.stringify`, a client's renderer) is safe as well; a value
 * stored before the limit existed is still written out by `stringifyJson`.
 */
import { MAX_JSON_DEPTH, MAX_JSON_MEMBERS } from './constants.ts'
import { ErrorCode, StateStreamError } from './errors.ts'
import type { Json } from './types.ts'

type Container = Json[] | { [key: string]: Json }

// One pair of stacks for every walk: checking a small message allocates nothing.
const nodes: Container[] = []
const depths: number[] = []

/**
 * How deeply `value` nests: 0 for a scalar, 1 for `[]` or `{}` or a container of scalars, and so
 * on. Stops counting once past `bound` (then some number above `bound` is returned), so measuring
 * against a limit costs at most the part of the value within it.
 */
export function jsonDepth(value: Json, bound = Number.POSITIVE_INFINITY): number {
  if (typeof value !== 'object' || value === null) return 0
  const base = nodes.length
  let deepest = 0
  nodes.push(value)
  depths.push(1)
  try {
    while (nodes.length > base) {
      const node = nodes.pop() as Container
      const depth = depths.pop() as number
      if (depth > deepest) {
        deepest = depth
        if (deepest > bound) return deepest
      }
      const children = Array.isArray(node) ? node : Object.values(node)
      for (const child of children) {
        if (typeof child === 'object' && child !== null) {
          nodes.push(child)
          depths.push(depth + 1)
        }
      }
    }
    return deepest
  } finally {
    nodes.length = base
    depths.length = base
  }
}

/**
 * Refuses a request value that nests deeper than `MAX_JSON_DEPTH` (`JSON_TOO_DEEP`), holds an
 * object or array of more than `MAX_JSON_MEMBERS` members (`JSON_TOO_MANY_MEMBERS`), or a number
 * beyond a double's range (`INVALID_JSON`: `1e400` parses to `Infinity`, which JSON cannot hold,
 * and would be stored as `null`, another value). `what` names the value in the message ("the
 * body"). Returns how many object members the value holds, at every depth.
 */
export function assertJsonLimits(value: Json, what = 'the body'): number {
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'number' && !Number.isFinite(value)) notFinite(what)
    return 0
  }
  let keys = 0
  const base = nodes.length
  nodes.push(value)
  depths.push(1)
  try {
    while (nodes.length > base) {
      const node = nodes.pop() as Container
      const depth = depths.pop() as number
      if (depth > MAX_JSON_DEPTH) {
        throw new StateStreamError(ErrorCode.JSON_TOO_DEEP, `${what} nests deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`)
      }
      let members = 0
      if (Array.isArray(node)) {
        members = node.length
        for (let i = 0; i < node.length; i++) {
          const child = node[i] as Json
          if (typeof child === 'object' && child !== null) {
            nodes.push(child)
            depths.push(depth + 1)
          } else if (typeof child === 'number' && !Number.isFinite(child)) {
            notFinite(what)
          }
        }
      } else {
        for (const key in node) {
          members += 1
          const child = node[key] as Json
          if (typeof child === 'object' && child !== null) {
            nodes.push(child)
            depths.push(depth + 1)
          } else if (typeof child === 'number' && !Number.isFinite(child)) {
            notFinite(what)
          }
        }
        keys += members
      }
      if (members > MAX_JSON_MEMBERS) {
        throw new StateStreamError(
          ErrorCode.JSON_TOO_MANY_MEMBERS,
          `${what} has an ${Array.isArray(node) ? 'array' : 'object'} of more than ${MAX_JSON_MEMBERS} members`,
        )
      }
    }
    return keys
  } finally {
    nodes.length = base
    depths.length = base
  }
}

function notFinite(what: string): never {
  throw new StateStreamError(ErrorCode.INVALID_JSON, `${what} holds a number beyond the range of a double (about ±1.8e308), which JSON cannot carry`)
}

/**
 * `JSON.stringify(value)` for any JSON value, however deep. The engine's own serialiser is used
 * whenever it can be (it is recursive, and overflows the stack a few thousand levels down); deeper
 * values are written by an equivalent loop, to the very same text.
 */
export function stringifyJson(value: Json): string {
  try {
    return JSON.stringify(value)
  } catch (error) {
    if (!(error instanceof RangeError) || !/call stack/i.test(error.message)) throw error
    return stringifyDeep(value)
  }
}

interface WriteFrame {
  node: Container
  keys: string[] | undefined
  i: number
}

/** What `JSON.stringify(value)` writes, by a loop instead of recursion (exported for its tests). */
export function stringifyDeep(value: Json): string {
  const out: string[] = []
  const stack: WriteFrame[] = []
  const open = (node: Json): void => {
    if (typeof node !== 'object' || node === null) {
      out.push(JSON.stringify(node))
      return
    }
    const array = Array.isArray(node)
    out.push(array ? '[' : '{')
    stack.push({ node, keys: array ? undefined : Object.keys(node), i: 0 })
  }
  open(value)
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as WriteFrame
    const { node, keys } = frame
    if (keys === undefined) {
      const array = node as Json[]
      if (frame.i === array.length) {
        out.push(']')
        stack.pop()
        continue
      }
      if (frame.i > 0) out.push(',')
      open(array[frame.i++] as Json)
    } else {
      if (frame.i === keys.length) {
        out.push('}')
        stack.pop()
        continue
      }
      const key = keys[frame.i++] as string
      out.push(frame.i > 1 ? ',' : '', JSON.stringify(key), ':')
      open((node as { [key: string]: Json })[key] as Json)
    }
  }
  return out.join('')
}
