import { STREAM_NAME_MAX_BYTES } from './constants.ts'
import { ErrorCode, StateStreamError, quote } from './errors.ts'

const SEGMENT = /^[A-Za-z0-9._~-]+$/

/**
 * Why `name` is not a valid stream name, or `undefined` when it is. Names are one or more
 * segments of `[A-Za-z0-9._~-]` joined by `/`, at most 512 bytes, with no `.` or `..` segment.
 */
export function streamNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the stream name is empty'
  // Every allowed character is ASCII, so length in bytes equals length in characters.
  if (name.length > STREAM_NAME_MAX_BYTES) return `the stream name is longer than ${STREAM_NAME_MAX_BYTES} bytes`
  for (const segment of name.split('/')) {
    if (segment === '') return 'the stream name has an empty segment'
    if (segment === '.' || segment === '..') return `the stream name has a "${segment}" segment`
    if (!SEGMENT.test(segment)) return `the stream name segment ${quote(segment)} has a character outside [A-Za-z0-9._~-]`
  }
  return undefined
}

/** Throws `INVALID_STREAM_NAME` unless `name` is a valid stream name; returns it otherwise. */
export function assertStreamName(name: string): string {
  const problem = streamNameProblem(name)
  if (problem !== undefined) throw new StateStreamError(ErrorCode.INVALID_STREAM_NAME, problem)
  return name
}
