/**
 * Applying and computing mutations. `apply` never changes its input: it copies only the
 * containers on the path of each change and shares every other subtree with the input, so a
 * client can hold many successive states for little more than the size of one.
 *
 * JSON Patch (RFC 6902) is applied strictly: a `remove` or `replace` of a missing member, an array
 * index out of range, a failing `test` — each refuses the whole mutation (`MUTATION_FAILED`).
 */
import { ErrorCode, StateStreamError } from './errors.ts'
import { escapePointerToken, parsePointer } from './json-pointer.ts'
import type { Json, Mutation, PatchOp } from './types.ts'

type JsonObject = { [key: string]: Json }

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Structural equality of two JSON values. */
export function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i] as Json, b[i] as Json)) return false
    return true
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false
    const keys = Object.keys(a)
    if (keys.length !== Object.keys(b).length) return false
    for (const key of keys) {
      if (!Object.hasOwn(b, key) || !jsonEqual(a[key] as Json, b[key] as Json)) return false
    }
    return true
  }
  return false
}

/** The state after `mutation` is applied to `state`. Throws `MUTATION_FAILED` if it cannot be. */
export function apply(state: Json, mutation: Mutation): Json {
  if ('set' in mutation) return mutation.set
  if ('merge' in mutation) return mergePatch(state, mutation.merge)
  let result = state
  for (let i = 0; i < mutation.patch.length; i++) {
    result = applyOp(result, mutation.patch[i] as PatchOp, i)
  }
  return result
}

/**
 * The state after every mutation of `mutations`, in order. Only the final state is returned, so
 * the containers created along the way are never seen by anyone else: each is copied once and
 * then updated in place, instead of being copied again by every later mutation. `state` itself,
 * and everything the final state shares with it, is never changed. Throws like `apply`.
 */
export function applySequence(state: Json, mutations: Iterable<Mutation>): Json {
  return inSequence(() => {
    let result = state
    for (const mutation of mutations) result = apply(result, mutation)
    return result
  })
}

/**
 * Runs `run` as one sequence of `apply` calls, as `applySequence` does, for callers that need to
 * look at each state on the way (validate, serialize a snapshot) before the next mutation. A state
 * seen inside `run` may change during it: use it at once, keep only the last. Nothing that existed
 * before `run` is ever changed.
 */
export function inSequence<T>(run: () => T): T {
  const outer = owned
  owned = new WeakSet()
  try {
    return run()
  } finally {
    owned = outer
  }
}

/**
 * Containers created by the running `applySequence`, which it may update in place. `undefined`
 * outside one: then every change copies, and no input is ever changed.
 */
let owned: WeakSet<object> | undefined

/** A copy of `node` to change, or `node` itself when the running sequence created it. */
function writableObject(node: JsonObject): JsonObject {
  if (owned?.has(node)) return node
  const copy = { ...node }
  owned?.add(copy)
  return copy
}

function writableArray(node: Json[]): Json[] {
  if (owned?.has(node)) return node
  const copy = node.slice()
  owned?.add(copy)
  return copy
}

/** A new empty object, owned by the running sequence. */
function freshObject(): JsonObject {
  const object: JsonObject = {}
  owned?.add(object)
  return object
}

/**
 * A value about to stand in a second place of the document (a `copy`) must never be changed in
 * place again, or the change would show in both places: forget every container in it.
 */
function disown(value: Json): void {
  if (owned === undefined || typeof value !== 'object' || value === null) return
  if (!owned.delete(value)) return
  for (const child of Array.isArray(value) ? value : Object.values(value)) disown(child)
}

/** RFC 7386 JSON Merge Patch, sharing every member the patch does not touch. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isJsonObject(patch)) return patch
  const base: JsonObject = isJsonObject(target) ? target : {}
  let result: JsonObject | undefined = isJsonObject(target) ? undefined : freshObject()
  for (const key of Object.keys(patch)) {
    const value = patch[key] as Json
    if (value === null) {
      if (!Object.hasOwn(base, key)) continue
      result ??= writableObject(base)
      delete result[key]
    } else {
      const current = Object.hasOwn(base, key) ? (base[key] as Json) : undefined
      const next = mergePatch(current === undefined ? null : current, value)
      if (current === next) continue
      result ??= writableObject(base)
      setOwn(result, key, next)
    }
  }
  return result ?? base
}

/** A JSON Patch that turns `a` into `b` (`apply(a, { patch: diff(a, b) })` equals `b`). */
export function diff(a: Json, b: Json): PatchOp[] {
  const ops: PatchOp[] = []
  diffInto(a, b, '', ops)
  return ops
}

function diffInto(a: Json, b: Json, path: string, ops: PatchOp[]): void {
  if (a === b) return
  if (isJsonObject(a) && isJsonObject(b)) {
    for (const key of Object.keys(a)) {
      if (!Object.hasOwn(b, key)) ops.push({ op: 'remove', path: `${path}/${escapePointerToken(key)}` })
    }
    for (const key of Object.keys(b)) {
      const child = `${path}/${escapePointerToken(key)}`
      if (Object.hasOwn(a, key)) diffInto(a[key] as Json, b[key] as Json, child, ops)
      else ops.push({ op: 'add', path: child, value: b[key] as Json })
    }
    return
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const common = Math.min(a.length, b.length)
    for (let i = 0; i < common; i++) diffInto(a[i] as Json, b[i] as Json, `${path}/${i}`, ops)
    for (let i = a.length - 1; i >= common; i--) ops.push({ op: 'remove', path: `${path}/${i}` })
    for (let i = common; i < b.length; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: b[i] as Json })
    return
  }
  if (!jsonEqual(a, b)) ops.push({ op: 'replace', path, value: b })
}

function fail(index: number, op: PatchOp, why: string): never {
  throw new StateStreamError(ErrorCode.MUTATION_FAILED, `patch op ${index} (${op.op} ${op.path}): ${why}`)
}

function applyOp(doc: Json, op: PatchOp, index: number): Json {
  const tokens = parsePointer(op.path)
  switch (op.op) {
    case 'add':
      return tokens.length === 0 ? op.value : addAt(doc, tokens, op.value, op, index)
    case 'replace':
      if (tokens.length === 0) return op.value
      return updateParent(doc, tokens, op, index, (parent, key) => {
        if (Array.isArray(parent)) {
          const i = arrayIndex(parent, key, false, op, index)
          const copy = writableArray(parent)
          copy[i] = op.value
          return copy
        }
        if (!Object.hasOwn(parent, key)) fail(index, op, `no member "${key}" to replace`)
        const copy = writableObject(parent)
        setOwn(copy, key, op.value)
        return copy
      })
    case 'remove':
      if (tokens.length === 0) fail(index, op, 'cannot remove the whole document')
      return removeAt(doc, tokens, op, index)
    case 'test': {
      const found = valueAt(doc, tokens)
      if (found === undefined) fail(index, op, 'the path does not exist')
      if (!jsonEqual(found, op.value)) fail(index, op, 'the value differs')
      return doc
    }
    case 'move': {
      const fromTokens = parsePointer(op.from)
      if (op.path.startsWith(`${op.from}/`)) fail(index, op, `cannot move "${op.from}" into one of its own children`)
      const value = valueAt(doc, fromTokens)
      // Checked before the no-op shortcut: RFC 6902 §4.4 requires "from" to exist even then.
      if (value === undefined) fail(index, op, `"from" path "${op.from}" does not exist`)
      if (op.from === op.path) return doc
      if (fromTokens.length === 0) fail(index, op, 'cannot move the whole document')
      const removed = removeAt(doc, fromTokens, op, index)
      return tokens.length === 0 ? value : addAt(removed, tokens, value, op, index)
    }
    case 'copy': {
      const value = valueAt(doc, parsePointer(op.from))
      if (value === undefined) fail(index, op, `"from" path "${op.from}" does not exist`)
      disown(value)
      return tokens.length === 0 ? value : addAt(doc, tokens, value, op, index)
    }
  }
}

function addAt(doc: Json, tokens: string[], value: Json, op: PatchOp, index: number): Json {
  return updateParent(doc, tokens, op, index, (parent, key) => {
    if (Array.isArray(parent)) {
      const i = key === '-' ? parent.length : arrayIndex(parent, key, true, op, index)
      const copy = writableArray(parent)
      copy.splice(i, 0, value)
      return copy
    }
    const copy = writableObject(parent)
    setOwn(copy, key, value)
    return copy
  })
}

function removeAt(doc: Json, tokens: string[], op: PatchOp, index: number): Json {
  return updateParent(doc, tokens, op, index, (parent, key) => {
    if (Array.isArray(parent)) {
      const i = arrayIndex(parent, key, false, op, index)
      const copy = writableArray(parent)
      copy.splice(i, 1)
      return copy
    }
    if (!Object.hasOwn(parent, key)) fail(index, op, `no member "${key}" to remove`)
    const copy = writableObject(parent)
    delete copy[key]
    return copy
  })
}

/**
 * Rebuilds the path from the root to the parent of the last token, calling `change` on that
 * parent. Every container off the path is shared with `doc`.
 */
function updateParent(
  doc: Json,
  tokens: string[],
  op: PatchOp,
  index: number,
  change: (parent: Json[] | JsonObject, key: string) => Json,
): Json {
  const walk = (node: Json, depth: number): Json => {
    if (typeof node !== 'object' || node === null) {
      fail(index, op, `"/${tokens.slice(0, depth).map(escapePointerToken).join('/')}" is not a container`)
    }
    const key = tokens[depth] as string
    if (depth === tokens.length - 1) return change(node, key)
    if (Array.isArray(node)) {
      const i = arrayIndex(node, key, false, op, index)
      const copy = writableArray(node)
      copy[i] = walk(node[i] as Json, depth + 1)
      return copy
    }
    if (!Object.hasOwn(node, key)) fail(index, op, `the path does not exist (no member "${key}")`)
    const copy = writableObject(node)
    setOwn(copy, key, walk(node[key] as Json, depth + 1))
    return copy
  }
  return walk(doc, 0)
}

/** The value at `tokens`, or `undefined` when the path does not exist. */
function valueAt(doc: Json, tokens: string[]): Json | undefined {
  let node: Json = doc
  for (const key of tokens) {
    if (Array.isArray(node)) {
      if (!/^(0|[1-9]\d*)$/.test(key)) return undefined
      const i = Number(key)
      if (i >= node.length) return undefined
      node = node[i] as Json
    } else if (isJsonObject(node)) {
      if (!Object.hasOwn(node, key)) return undefined
      node = node[key] as Json
    } else {
      return undefined
    }
  }
  return node
}

function arrayIndex(array: Json[], key: string, forInsert: boolean, op: PatchOp, index: number): number {
  if (!/^(0|[1-9]\d*)$/.test(key)) fail(index, op, `"${key}" is not an array index`)
  const i = Number(key)
  const limit = forInsert ? array.length : array.length - 1
  if (i > limit) fail(index, op, `array index ${i} is out of range (length ${array.length})`)
  return i
}

/** Sets an own data property, even for the key `__proto__` (which plain assignment would not). */
function setOwn(object: JsonObject, key: string, value: Json): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    object[key] = value
  }
}
