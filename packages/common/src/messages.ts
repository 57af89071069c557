/**
 * Validation of what writers send. Every message is checked once, at the boundary, and either
 * becomes a typed `Message` or is refused with a message naming what is wrong and where.
 */
import { MAX_JSON_DEPTH } from './constants.ts'
import { ErrorCode, StateStreamError, clip, quote } from './errors.ts'
import { assertJsonLimits } from './json-limits.ts'
import { isJsonObject } from './mutation.ts'
import { parsePointer } from './json-pointer.ts'
import type { Json, Message, Mutation, PatchOp } from './types.ts'

const PATCH_OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test'])

/**
 * Parses a JSON body, refusing anything that is not JSON with `INVALID_JSON`, and JSON beyond the
 * limits (`MAX_JSON_DEPTH`, `MAX_JSON_MEMBERS`) with `JSON_TOO_DEEP` / `JSON_TOO_MANY_MEMBERS`.
 */
export function parseJson(text: string): Json {
  return parseJsonBody(text).value
}

/** `parseJson`, with how many object members the value holds at every depth (`assertJsonLimits`). */
export function parseJsonBody(text: string): { value: Json; members: number } {
  let value: Json
  try {
    value = JSON.parse(text) as Json
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : 'a syntax error'
    throw new StateStreamError(ErrorCode.INVALID_JSON, `the body is not valid JSON: ${clip(reason)}`, { cause })
  }
  return { value, members: assertJsonLimits(value) }
}

/**
 * The messages of a JSON append body: an array is flattened one level (a batch), anything else is
 * one message (the Durable Streams JSON mode).
 */
export function splitMessages(body: Json): Json[] {
  return Array.isArray(body) ? body : [body]
}

/** Refuses a message; `where` is a place, or the index of the message. */
function invalid(where: string | number, why: string): never {
  throw new StateStreamError(ErrorCode.INVALID_MUTATION, `${typeof where === 'number' ? `message ${where}` : where}: ${why}`)
}

/** Checks that `value` is a mutation message (§1) and returns it typed. `index` names it in errors. */
export function validateMessage(value: Json, index = 0): Message {
  // Every append runs this once per message: the happy path allocates nothing, and the place
  // (`message N`) is spelled out only for an error.
  if (!isJsonObject(value)) invalid(index, 'a mutation must be an object with one of "patch", "merge" or "set"')
  let kind: 'patch' | 'merge' | 'set' | undefined
  let kinds = 0
  let unknown: string | undefined
  for (const key of Object.keys(value)) {
    if (key === 'patch' || key === 'merge' || key === 'set') {
      kind = key
      kinds += 1
    } else if (key !== 'ts') {
      unknown ??= key
    }
  }
  if (kinds !== 1) invalid(index, 'a mutation must have exactly one of "patch", "merge" or "set"')
  if (unknown !== undefined) invalid(index, `unknown member ${quote(unknown)}`)
  if (Object.hasOwn(value, 'ts')) {
    const ts = value.ts
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) {
      invalid(index, '"ts" must be a non-negative integer (milliseconds since the epoch)')
    }
  }
  if (kind === 'patch') validatePatch(value.patch as Json, `message ${index}`)
  return value as unknown as Message
}

function validatePatch(patch: Json, where: string): void {
  if (!Array.isArray(patch)) invalid(where, '"patch" must be an array of JSON Patch operations')
  patch.forEach((op, i) => {
    const at = `${where}, patch op ${i}`
    if (!isJsonObject(op)) invalid(at, 'an operation must be an object')
    if (typeof op.op !== 'string' || !PATCH_OPS.has(op.op)) {
      invalid(at, `"op" must be one of add, remove, replace, move, copy, test`)
    }
    pointer(op.path, at, 'path')
    if ((op.op === 'add' || op.op === 'replace' || op.op === 'test') && !Object.hasOwn(op, 'value')) {
      invalid(at, `"${op.op}" needs a "value"`)
    }
    if (op.op === 'move' || op.op === 'copy') pointer(op.from, at, 'from')
  })
}

function pointer(value: Json | undefined, at: string, member: string): void {
  if (typeof value !== 'string') invalid(at, `"${member}" must be a JSON Pointer string`)
  let tokens: string[]
  try {
    tokens = parsePointer(value)
  } catch (err) {
    invalid(at, `"${member}": ${(err as Error).message}`)
  }
  // No state within the depth limit has a place that deep.
  if (tokens.length > MAX_JSON_DEPTH) {
    throw new StateStreamError(ErrorCode.JSON_TOO_DEEP, `${at}: "${member}" has more than ${MAX_JSON_DEPTH} reference tokens`)
  }
}

/** The mutation of a message, without its writer-supplied `ts`. */
export function mutationOf(message: Message): Mutation {
  // A message without `ts` is its own mutation (validated: exactly one of the three members).
  if (!Object.hasOwn(message, 'ts')) return message as Mutation
  if ('patch' in message) return { patch: message.patch as PatchOp[] }
  if ('merge' in message) return { merge: message.merge }
  return { set: message.set }
}
