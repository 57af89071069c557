import { OFFSET_NOW, OFFSET_START } from './constants.ts'
import { ErrorCode, StateStreamError, quote } from './errors.ts'

/**
 * Log offsets. An offset names the position after entry `seq` of a stream. On the wire it is the
 * seq as 16 decimal digits, so offsets sort lexicographically in log order, never collide with the
 * `-1` and `now` sentinels, and hold no character that needs URL escaping.
 */
const WIDTH = 16
const OFFSET = /^\d{16}$/
/**
 * The start of a stream as the Durable Streams reference server spells it (its offsets have two
 * fields). Clients and its conformance suite write it by hand, so it is read as `-1` is.
 */
const REFERENCE_START = '0000000000000000_0000000000000000'

/** The offset after entry `seq` (0 = before the first entry). */
export function encodeOffset(seq: number): string {
  return String(seq).padStart(WIDTH, '0')
}

/** A parsed offset: a seq, or one of the sentinels. */
export type ParsedOffset = { kind: 'seq'; seq: number } | { kind: 'now' }

/** Parses a wire offset; throws `INVALID_OFFSET` for anything that is not one. */
export function decodeOffset(offset: string): ParsedOffset {
  if (offset === OFFSET_START || offset === REFERENCE_START) return { kind: 'seq', seq: 0 }
  if (offset === OFFSET_NOW) return { kind: 'now' }
  if (!OFFSET.test(offset)) throw new StateStreamError(ErrorCode.INVALID_OFFSET, `${quote(offset)} is not an offset`)
  const seq = Number(offset)
  if (!Number.isSafeInteger(seq)) throw new StateStreamError(ErrorCode.INVALID_OFFSET, `${quote(offset)} is out of range`)
  return { kind: 'seq', seq }
}
