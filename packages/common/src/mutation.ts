/**
 * Applying and computing mutations. `apply` never changes its input: it copies only the
 * containers on the path of each change and shares every other subtree with the input, so a
 * client can hold many successive states for little more than the size of one.
 *
 * JSON Patch (RFC 6902) is applied strictly: a `remove` or `replace` of a missing member, an array
 * index out of range, a failing `test` — each refuses the whole mutation (`MUTATION_FAILED`).
 */
import { ErrorCode, StateStreamError, quote } from './errors.ts'
import { isJsonObject, jsonEqual } from './json-diff.ts'
import { jsonDepth } from './json-limits.ts'
import { escapePointerToken, parsePointer } from './json-pointer.ts'
import type { Json, Mutation, PatchOp } from './types.ts'

export { diff, isJsonObject, jsonEqual } from './json-diff.ts'

type JsonObject = { [key: string]: Json }

/**
 * The state after `mutation` is applied to `state`. Throws `MUTATION_FAILED` if it cannot be.
 * With `maxDepth`, a patch op that would make the state nest deeper than that is refused with
 * `JSON_TOO_DEEP` (a merge or set nests no deeper than its own value, which the caller checks);
 * replaying stored history passes none, so whatever was once accepted still replays.
 */
export function apply(state: Json, mutation: Mutation, maxDepth?: number): Json {
  if ('set' in mutation) return mutation.set
  if ('merge' in mutation) return mergePatch(state, mutation.merge)
  let result = state
  for (let i = 0; i < mutation.patch.length; i++) {
    result = applyOp(result, mutation.patch[i] as PatchOp, i, maxDepth)
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
  if (owned === undefined) return
  const pending: Json[] = [value]
  while (pending.length > 0) {
    const node = pending.pop() as Json
    // Only containers the sequence created can hold others it created.
    if (typeof node !== 'object' || node === null || !owned.delete(node)) continue
    for (const child of Array.isArray(node) ? node : Object.values(node)) pending.push(child)
  }
}

/** One object being merged: its patch members taken so far, and where its result goes. */
interface MergeFrame {
  base: JsonObject
  result: JsonObject | undefined
  patch: JsonObject
  keys: string[]
  next: number
  /** The member of the parent frame this frame's result is for, and that member's value now. */
  key: string
  current: Json | undefined
}

/**
 * RFC 7386 JSON Merge Patch, sharing every member the patch does not touch. The first levels of
 * the patch are merged directly (`mergeLevels`), any deeper with an explicit stack: any depth of
 * patch or target is merged without deep recursion.
 */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isJsonObject(patch)) return patch
  return mergeLevels(target, patch, DIRECT_LEVELS)
}

/** Levels of a patch merged by `mergeLevels` calling itself, before `mergeStacked` takes over. */
const DIRECT_LEVELS = 2

/**
 * `patch` merged into `target` (into `{}` if it is no object), `levels` more levels of it by
 * calling itself: most patches are that shallow, and merge without a frame per object.
 */
function mergeLevels(target: Json | undefined, patch: JsonObject, levels: number): Json {
  const base = isJsonObject(target) ? target : undefined
  let result = base === undefined ? freshObject() : undefined
  for (const key of Object.keys(patch)) {
    const value = patch[key] as Json
    if (value === null) {
      if (base === undefined || !Object.hasOwn(base, key)) continue
      result ??= writableObject(base)
      delete result[key]
      continue
    }
    const current = base !== undefined && Object.hasOwn(base, key) ? (base[key] as Json) : undefined
    const next = !isJsonObject(value) ? value : levels > 0 ? mergeLevels(current, value, levels - 1) : mergeStacked(current ?? null, value)
    if (current === next) continue
    result ??= writableObject(base as JsonObject)
    setOwn(result, key, next)
  }
  return result ?? (base as JsonObject)
}

/** `mergePatch` of an object patch, walking it with an explicit stack. */
function mergeStacked(target: Json, patch: JsonObject): Json {
  const stack: MergeFrame[] = [mergeFrame(target, patch, '')]
  for (;;) {
    const top = stack[stack.length - 1] as MergeFrame
    if (top.next === top.keys.length) {
      stack.pop()
      const merged = top.result ?? top.base
      const parent = stack[stack.length - 1]
      if (parent === undefined) return merged
      storeMember(parent, top.key, top.current, merged)
      continue
    }
    const key = top.keys[top.next++] as string
    const value = top.patch[key] as Json
    if (value === null) {
      if (!Object.hasOwn(top.base, key)) continue
      top.result ??= writableObject(top.base)
      delete top.result[key]
      continue
    }
    const current = Object.hasOwn(top.base, key) ? (top.base[key] as Json) : undefined
    if (isJsonObject(value)) stack.push(mergeFrame(current, value, key))
    else storeMember(top, key, current, value)
  }
}

// The two helpers of `mergePatch` live at module level: `apply` runs once per entry, and closures
// made inside it would be allocated (and, under some loaders, named) on every call.

/** The frame merging `from` into `into` (a missing or non-object `into` merges into `{}`). */
function mergeFrame(into: Json | undefined, from: JsonObject, key: string): MergeFrame {
  const base = isJsonObject(into) ? into : undefined
  return {
    base: base ?? {},
    result: base === undefined ? freshObject() : undefined,
    patch: from,
    keys: Object.keys(from),
    next: 0,
    key,
    current: into,
  }
}

/** Puts `next` at `key` of the frame's result (copying its base first), unless it is already there. */
function storeMember(f: MergeFrame, key: string, current: Json | undefined, next: Json): void {
  if (current === next) return
  f.result ??= writableObject(f.base)
  setOwn(f.result, key, next)
}

function fail(index: number, op: PatchOp, why: string): never {
  throw new StateStreamError(ErrorCode.MUTATION_FAILED, `patch op ${index} (${op.op} ${quote(op.path)}): ${why}`)
}

/**
 * Refuses op `index` when `value`, put at a place `tokens` deep, would nest the state deeper than
 * `maxDepth`. `within`: the depth `value` is already known to be within, if any (a value taken
 * from a state within the limit, `from` tokens deep, nests at most `maxDepth - from` levels), so
 * that most moves and copies need no walk.
 */
function checkDepth(value: Json, tokens: string[], op: PatchOp, index: number, maxDepth: number | undefined, within?: number): void {
  if (maxDepth === undefined) return
  const room = maxDepth - tokens.length
  if (within !== undefined && within <= room) return
  if (room >= 0 && jsonDepth(value, room) <= room) return
  throw new StateStreamError(
    ErrorCode.JSON_TOO_DEEP,
    `patch op ${index} (${op.op} ${quote(op.path)}): the state would nest deeper than ${maxDepth} levels`,
  )
}

function applyOp(doc: Json, op: PatchOp, index: number, maxDepth: number | undefined): Json {
  const tokens = parsePointer(op.path)
  switch (op.op) {
    case 'add':
      checkDepth(op.value, tokens, op, index, maxDepth)
      return tokens.length === 0 ? op.value : addAt(doc, tokens, op.value, op, index)
    case 'replace':
      checkDepth(op.value, tokens, op, index, maxDepth)
      if (tokens.length === 0) return op.value
      return updateParent(doc, tokens, op, index, (parent, key) => {
        if (Array.isArray(parent)) {
          const i = arrayIndex(parent, key, false, op, index)
          const copy = writableArray(parent)
          copy[i] = op.value
          return copy
        }
        if (!Object.hasOwn(parent, key)) fail(index, op, `no member ${quote(key)} to replace`)
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
      if (op.path.startsWith(`${op.from}/`)) fail(index, op, `cannot move ${quote(op.from)} into one of its own children`)
      const value = valueAt(doc, fromTokens)
      // Checked before the no-op shortcut: RFC 6902 §4.4 requires "from" to exist even then.
      if (value === undefined) fail(index, op, `"from" path ${quote(op.from)} does not exist`)
      if (op.from === op.path) return doc
      if (fromTokens.length === 0) fail(index, op, 'cannot move the whole document')
      if (maxDepth !== undefined) checkDepth(value, tokens, op, index, maxDepth, maxDepth - fromTokens.length)
      const removed = removeAt(doc, fromTokens, op, index)
      return tokens.length === 0 ? value : addAt(removed, tokens, value, op, index)
    }
    case 'copy': {
      const fromTokens = parsePointer(op.from)
      const value = valueAt(doc, fromTokens)
      if (value === undefined) fail(index, op, `"from" path ${quote(op.from)} does not exist`)
      if (maxDepth !== undefined) checkDepth(value, tokens, op, index, maxDepth, maxDepth - fromTokens.length)
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
    if (!Object.hasOwn(parent, key)) fail(index, op, `no member ${quote(key)} to remove`)
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
  // Down to the parent, without recursion: the containers on the path and the key of each.
  const path: Array<Json[] | JsonObject> = []
  const keys: Array<string | number> = []
  let node = doc
  for (let depth = 0; ; depth++) {
    if (typeof node !== 'object' || node === null) {
      fail(index, op, `${quote(`/${tokens.slice(0, depth).map(escapePointerToken).join('/')}`)} is not a container`)
    }
    const key = tokens[depth] as string
    if (depth === tokens.length - 1) break
    path.push(node)
    if (Array.isArray(node)) {
      const i = arrayIndex(node, key, false, op, index)
      keys.push(i)
      node = node[i] as Json
    } else {
      if (!Object.hasOwn(node, key)) fail(index, op, `the path does not exist (no member ${quote(key)})`)
      keys.push(key)
      node = node[key] as Json
    }
  }
  // Then back up, copying each container on the path (or changing it in place when owned).
  let child = change(node as Json[] | JsonObject, tokens[tokens.length - 1] as string)
  for (let depth = path.length - 1; depth >= 0; depth--) {
    const parent = path[depth] as Json[] | JsonObject
    const key = keys[depth] as string | number
    if (Array.isArray(parent)) {
      const copy = writableArray(parent)
      copy[key as number] = child
      child = copy
    } else {
      const copy = writableObject(parent)
      setOwn(copy, key as string, child)
      child = copy
    }
  }
  return child
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
  if (!/^(0|[1-9]\d*)$/.test(key)) fail(index, op, `${quote(key)} is not an array index`)
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
