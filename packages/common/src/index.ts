export {
  AT_NOW,
  CACHE_IMMUTABLE,
  CACHE_NO_STORE,
  DEFAULT_BODY_LIMIT,
  DEFAULT_PORT,
  DEFAULT_SNAPSHOT_POLICY,
  HEADERS,
  JSON_CONTENT_TYPE,
  LIVE_EVENTS,
  LIVE_MODE,
  LIVE_RESUME_MAX_ENTRIES,
  MAX_JSON_DEPTH,
  MAX_JSON_MEMBERS,
  OFFSET_NOW,
  OFFSET_START,
  QUERY,
  ROUTES,
  STATE_KIND,
  STREAM_LIST_DEFAULT_LIMIT,
  STREAM_LIST_MAX_LIMIT,
  STREAM_NAME_MAX_BYTES,
  STREAM_RESUME_SEPARATOR,
} from './constants.ts'
export { ERROR_STATUS, ErrorCode, QUOTE_MAX_CHARS, StateStreamError, clip, isErrorBody, quote } from './errors.ts'
export type { ErrorBody, StateStreamErrorOptions } from './errors.ts'
export { escapePointerToken, parsePointer } from './json-pointer.ts'
export { assertJsonLimits, jsonDepth, stringifyJson } from './json-limits.ts'
export { mutationOf, parseJson, parseJsonBody, splitMessages, validateMessage } from './messages.ts'
export { apply, applySequence, diff, inSequence, isJsonObject, jsonEqual, mergePatch } from './mutation.ts'
export { decodeOffset, encodeOffset } from './offset.ts'
export type { ParsedOffset } from './offset.ts'
export { assertStreamName, streamNameProblem } from './stream-name.ts'
export type {
  Bound,
  Entry,
  Json,
  Message,
  Mutation,
  PatchOp,
  Snapshot,
  SnapshotPolicy,
  StateAt,
  WindowBounds,
  WindowData,
} from './types.ts'
export { entriesUpToSeq, entriesUpToTs, replay, windowIndexAt, windowIndexForSeq } from './window-math.ts'
