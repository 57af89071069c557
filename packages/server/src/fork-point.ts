/**
 * Where a fork branches off its source (Durable Streams §4.2, and `Stream-Fork-At` for a time):
 * a seq of the source, plus, for a byte sub-offset inside the source's next entry, the part of it
 * the fork copies as its own first entry. Only that part is ever copied — at most one entry, so a
 * fork costs the same whatever its source's length.
 */
import { ErrorCode, StateStreamError, quote } from '@statestream/common'
import { isJsonStream } from './log-format.ts'
import type { LogReader } from './log-reader.ts'
import type { CreateStream, ForkRequest, StreamInfo, StreamRecord } from './stream-types.ts'
import { mediaType } from './stream-types.ts'

/** A resolved fork point. */
export interface ResolvedForkPoint {
  /** The fork inherits the source's entries up to this seq. */
  seq: number
  /** The first `prefix.data.length` bytes of entry `seq + 1`, which the fork stores as its own. */
  prefix?: { data: Buffer; ts: number }
}

/** Resolves `request` against `source` (its head as it is now); throws a 400 for a point it does not have. */
export function resolveForkPoint(log: LogReader, source: StreamInfo, request: ForkRequest): ResolvedForkPoint {
  const head = source.headSeq
  const sub = request.subOffset ?? 0
  if (request.at !== undefined) {
    if (request.offset !== undefined || sub > 0) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'give Stream-Fork-At or Stream-Fork-Offset (with its sub-offset), not both')
    }
    const at = request.at
    if (at < source.createdTs) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `Stream-Fork-At ${at} is before the source was created (${source.createdTs})`)
    }
    // The last entry with ts ≤ at: times never decrease along the log.
    return { seq: log.lastSeqWhere(source.segments, head, (entry) => entry.ts <= at) }
  }
  if (request.offset === undefined && sub > 0) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'a Stream-Fork-Sub-Offset needs the Stream-Fork-Offset it counts from')
  }
  const anchor = request.offset ?? head
  if (anchor > head) {
    throw new StateStreamError(ErrorCode.INVALID_OFFSET, `the fork point (Stream-Fork-Offset) is beyond the end of the source: seq ${anchor}, and the source ends at seq ${head}`)
  }
  if (sub === 0) return { seq: anchor }
  if (isJsonStream(source)) {
    // JSON streams store one entry per message: a sub-offset counts whole messages.
    if (anchor + sub > head) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `Stream-Fork-Sub-Offset ${sub} is past the source's last message`)
    }
    return { seq: anchor + sub }
  }
  const next = log.entryAt(source.segments, anchor + 1)
  const data = next === undefined ? undefined : typeof next.data === 'string' ? Buffer.from(next.data) : next.data
  if (next === undefined || data === undefined || sub > data.length) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `Stream-Fork-Sub-Offset ${sub} is past the end of the source's next append`)
  }
  // All of the next entry is the same as forking after it.
  if (sub === data.length) return { seq: anchor + 1 }
  return { seq: anchor, prefix: { data: Buffer.from(data.subarray(0, sub)), ts: next.ts } }
}

/** Refuses a fork request that contradicts its source: another content type or kind. */
export function checkForkOf(source: StreamInfo, request: Pick<CreateStream, 'contentType' | 'kind'>): void {
  if (request.contentType !== undefined && mediaType(request.contentType) !== mediaType(source.contentType)) {
    throw new StateStreamError(
      ErrorCode.CONTENT_TYPE_MISMATCH,
      `a fork has its source's content type, ${quote(source.contentType)}; the request's is ${quote(request.contentType)}`,
    )
  }
  if (request.kind !== undefined && request.kind !== source.kind) {
    throw new StateStreamError(ErrorCode.STREAM_CONFLICT, `a fork of a ${source.kind} stream is a ${source.kind} stream`)
  }
}

/**
 * Where a fork at `point` of `source` starts: its history's creation (its source's), its head at
 * the fork point, the log's size there and the last snapshot it shares. A few lookups, whatever
 * the source's length.
 */
export function forkStart(log: LogReader, source: StreamInfo, point: ResolvedForkPoint) {
  const seq = point.seq
  const snapshot = source.kind === 'state' ? log.snapshotAtOrBefore(source.segments, seq) : undefined
  const atHead = seq === source.headSeq
  const start: Pick<StreamRecord, 'createdTs' | 'headSeq' | 'headTs' | 'totalBytes' | 'lastSnapshot'> = {
    // Its history begins where its source's does: the state before the fork point is the source's.
    createdTs: source.createdTs,
    headSeq: seq,
    headTs: atHead ? source.headTs : seq === 0 ? source.createdTs : (log.entryAt(source.segments, seq)?.ts ?? source.headTs),
    totalBytes: atHead ? source.totalBytes : log.bytesAt(source.segments, seq),
    lastSnapshot: snapshot ? { seq: snapshot.seq, ts: snapshot.ts, cumBytes: snapshot.cum_bytes } : { seq: 0, ts: source.createdTs, cumBytes: 0 },
  }
  return { ...start, fork: { source, seq, snapSeq: snapshot?.seq ?? 0, prefix: point.prefix?.data.length ?? 0 } }
}
