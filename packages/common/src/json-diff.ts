/**
 * Comparing JSON values: structural equality, and the JSON Patch from one value to another. Both
 * walk with an explicit stack, so no depth of input can overflow the call stack.
 */
import { escapePointerToken } from './json-pointer.ts'
import type { Json, PatchOp } from './types.ts'

type JsonObject = { [key: string]: Json }

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Structural equality of two JSON values. */
export function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true
  const left: Json[] = [a]
  const right: Json[] = [b]
  while (left.length > 0) {
    const x = left.pop() as Json
    const y = right.pop() as Json
    if (x === y) continue
    if (Array.isArray(x)) {
      if (!Array.isArray(y) || x.length !== y.length) return false
      for (let i = 0; i < x.length; i++) {
        left.push(x[i] as Json)
        right.push(y[i] as Json)
      }
    } else if (isJsonObject(x)) {
      if (!isJsonObject(y)) return false
      const keys = Object.keys(x)
      if (keys.length !== Object.keys(y).length) return false
      for (const key of keys) {
        if (!Object.hasOwn(y, key)) return false
        left.push(x[key] as Json)
        right.push(y[key] as Json)
      }
    } else {
      // Two scalars that are not `===` (numbers and strings compare by value with `===`).
      return false
    }
  }
  return true
}

/** What is left to do, last first: compare two values at a path, or emit an op. */
type Task = { a: Json; b: Json; path: string } | { op: PatchOp }

/** A JSON Patch that turns `a` into `b` (`apply(a, { patch: diff(a, b) })` equals `b`). */
export function diff(a: Json, b: Json): PatchOp[] {
  const ops: PatchOp[] = []
  // Tasks are pushed in reverse, so they run in the order a recursive walk would take them:
  // within an object its removes, then each of `b`'s members; within an array its common
  // elements, then removes from the end, then adds.
  const tasks: Task[] = [{ a, b, path: '' }]
  while (tasks.length > 0) {
    const task = tasks.pop() as Task
    if ('op' in task) {
      ops.push(task.op)
      continue
    }
    const { a: x, b: y, path } = task
    if (x === y) continue
    if (isJsonObject(x) && isJsonObject(y)) {
      const later: Task[] = []
      for (const key of Object.keys(x)) {
        if (!Object.hasOwn(y, key)) ops.push({ op: 'remove', path: `${path}/${escapePointerToken(key)}` })
      }
      for (const key of Object.keys(y)) {
        const child = `${path}/${escapePointerToken(key)}`
        if (Object.hasOwn(x, key)) later.push({ a: x[key] as Json, b: y[key] as Json, path: child })
        else later.push({ op: { op: 'add', path: child, value: y[key] as Json } })
      }
      for (let i = later.length - 1; i >= 0; i--) tasks.push(later[i] as Task)
      continue
    }
    if (Array.isArray(x) && Array.isArray(y)) {
      const common = Math.min(x.length, y.length)
      for (let i = y.length - 1; i >= common; i--) tasks.push({ op: { op: 'add', path: `${path}/${i}`, value: y[i] as Json } })
      for (let i = common; i < x.length; i++) tasks.push({ op: { op: 'remove', path: `${path}/${i}` } })
      for (let i = common - 1; i >= 0; i--) tasks.push({ a: x[i] as Json, b: y[i] as Json, path: `${path}/${i}` })
      continue
    }
    if (!jsonEqual(x, y)) ops.push({ op: 'replace', path, value: y })
  }
  return ops
}
