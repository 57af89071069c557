/**
 * History queries of state streams: the window around a time or seq, the windows over a range,
 * and the state at a time or seq. Every answer starts from the nearest snapshot, so its cost is
 * bounded by one window, never by the length of the log. Window bodies are assembled from the
 * stored JSON text without parsing it. A fork's history before its fork point is its source's:
 * the same snapshots and entries, read through (`log-reader.ts`), so its windows there are the
 * very same windows, with the same identities.
 *
 * A closed stream's last window ends at its last entry (closing took a snapshot there, if the
 * policy had not): no open window follows it, and every point at or after that entry falls in it.
 */
import { ErrorCode, StateStreamError, applySequence, encodeOffset } from '@statestream/common'
import type { Bound, Entry, Json, Mutation, StateAt } from '@statestream/common'
import type { Segment } from './lineage.ts'
import type { LogReader, SnapshotRow } from './log-reader.ts'
import { CHECKPOINT_SPACING, CheckpointCache, DEFAULT_CHECKPOINT_BYTES, heldBytes, nearest, seqAtTime } from './window-checkpoints.ts'
import type { Checkpoint, WindowCheckpoints } from './window-checkpoints.ts'
import type { StreamInfo } from './stream-types.ts'

/** Which window: the one covering a time, a seq, or the open one. */
export type WindowPoint = { at: number } | { seq: number } | { now: true }

/** A window answer: its JSON body, ready to send, and what the headers need. */
export interface WindowAnswer {
  body: string
  /** Closed windows (and the one before creation) never change. */
  closed: boolean
  /**
   * For a closed window whose answer holds entries: an identity of this very body that no other
   * body will ever have, even after the stream is deleted and re-created (the last entry's global
   * position is never reused). `null` otherwise: the caller digests the body.
   */
  identity: string | null
  start: Bound | null
  end: Bound | null
}

/** At most this many windows are listed by one `windows` answer. */
export const MAX_LISTED_WINDOWS = 10_000

export class HistoryReader {
  readonly #info: (name: string) => StreamInfo
  readonly #log: LogReader
  readonly #checkpoints: CheckpointCache

  readonly #epoch: () => number

  /**
   * @param checkpointBytes the budget of the states kept inside closed windows (`window-checkpoints.ts`).
   * @param epoch counts the events after which rows read before may be gone (`StreamCatalog.epoch`):
   *   checkpoints kept from before the last one are checked against the log before they are used.
   *   Without it, they are checked on every use.
   */
  constructor(log: LogReader, info: (name: string) => StreamInfo, checkpointBytes = DEFAULT_CHECKPOINT_BYTES, epoch?: () => number) {
    this.#info = info
    this.#log = log
    this.#checkpoints = new CheckpointCache(checkpointBytes)
    this.#epoch = epoch ?? (() => Number.NaN)
  }

  /** Bytes of the states kept inside closed windows (at most the budget), and of how many windows. */
  get checkpointCache(): { bytes: number; windows: number } {
    return { bytes: this.#checkpoints.bytes, windows: this.#checkpoints.windows }
  }

  /** The window covering `point`, with the entries after `after` (all of them by default). */
  window(name: string, point: WindowPoint, after?: number): WindowAnswer {
    const info = this.#stateInfo(name)
    const start = this.#startOf(info, point)
    const stream = JSON.stringify(name)
    if (start === undefined) {
      // Before the stream existed: no state, and the window ends where the stream begins.
      const end = { seq: 0, ts: info.createdTs }
      return {
        body: `{"stream":${stream},"start":null,"entries":[],"end":${JSON.stringify(end)},"nextOffset":"${encodeOffset(0)}"}`,
        closed: true,
        identity: null,
        start: null,
        end,
      }
    }
    const end = this.#endOf(info, start)
    const upper = end ? end.seq : info.headSeq
    if (after !== undefined && after > upper) {
      // Resuming past the window would hand out a nextOffset beyond what the log holds.
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `after=${after} is beyond the window, which ends at seq ${upper}`)
    }
    const segments = info.segments
    const from = Math.max(start.seq, after ?? start.seq)
    const rows = this.#log.entriesText(segments, from, upper)
    const state = this.#log.snapshotState(segments, start.seq) ?? '{}'
    const body =
      `{"stream":${stream},"start":{"seq":${start.seq},"ts":${start.ts},"state":${state}},` +
      `"entries":[${rows.entries}],"end":${end ? JSON.stringify(end) : 'null'},` +
      `"nextOffset":"${encodeOffset(Math.max(from, upper))}"}`
    const identity = end !== null && rows.gpos !== null ? `${rows.gpos}.${start.seq}.${from}.${end.seq}` : null
    return { body, closed: end !== null, identity, start: { seq: start.seq, ts: start.ts }, end }
  }

  /**
   * The identity `window(name, point, after)` would give, found without reading the window's
   * entries (one lookup of its last one): what a conditional request is answered with, a 304
   * costing a few index lookups. `null` where the answer would have none (the open window, the
   * one before creation, a closed window asked for no entries).
   */
  windowIdentity(name: string, point: WindowPoint, after?: number): string | null {
    const info = this.#stateInfo(name)
    const start = this.#startOf(info, point)
    if (start === undefined) return null
    const end = this.#endOf(info, start)
    if (end === null) return null
    const from = Math.max(start.seq, after ?? start.seq)
    if (from >= end.seq) return null
    const gpos = this.#log.entryAt(info.segments, end.seq)?.gpos
    return gpos === undefined ? null : `${gpos}.${start.seq}.${from}.${end.seq}`
  }

  /** Bounds of the windows covering `[from, to]`, in time order (at most `MAX_LISTED_WINDOWS`). */
  windows(name: string, from: number, to: number): Array<{ start: Bound; end: Bound | null; entries: number; bytes: number }> {
    const info = this.#stateInfo(name)
    if (to < info.createdTs || to < from) return []
    const segments = info.segments
    const first = this.#log.snapshotAtOrBeforeTs(segments, from)
    // Bounded by `info`'s head: what another server of the same database appended since is not in this answer.
    const rows = this.#log.snapshotsFrom(segments, first?.seq ?? 0, to, MAX_LISTED_WINDOWS, info.headSeq)
    const last = rows[rows.length - 1]
    const after = last ? this.#log.snapshotAfter(segments, last.seq) : undefined
    const tail = after !== undefined && after.seq <= info.headSeq ? after : undefined
    const out: Array<{ start: Bound; end: Bound | null; entries: number; bytes: number }> = []
    rows.forEach((row, i) => {
      // A closed stream's snapshot at its last entry is the end of its last window, not the start of one.
      if (isFinalBound(info, row)) return
      const next = rows[i + 1] ?? tail ?? (info.closed ? row : undefined)
      out.push({
        start: { seq: row.seq, ts: row.ts },
        end: next ? { seq: next.seq, ts: next.ts } : null,
        entries: (next ? next.seq : info.headSeq) - row.seq,
        bytes: (next ? next.cum_bytes : info.totalBytes) - row.cum_bytes,
      })
    })
    return out
  }

  /**
   * The state after every entry with `ts ≤ at`, or after entry `seq`. In a closed window already
   * replayed once, from the checkpoint nearest before the point (`window-checkpoints.ts`): fewer
   * than `CHECKPOINT_SPACING` entries are read and applied.
   */
  state(name: string, point: { at: number } | { seq: number }): StateAt {
    const info = this.#stateInfo(name)
    if ('seq' in point && point.seq > info.headSeq) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `seq ${point.seq} is beyond the head of the stream (${info.headSeq})`)
    }
    const segments = info.segments
    // A window held whose span holds the point: no lookup of its snapshot.
    const found = this.#checkpoints.find(segments, point)
    if (found !== undefined) {
      const answer = this.#fromHeld(info, found, point)
      if (answer !== undefined) return answer
    }
    const start = this.#startOf(info, point)
    if (start === undefined) return { seq: null, ts: null, state: null }
    const held = found === undefined ? this.#checkpoints.get(segments, start.seq) : undefined
    if (held !== undefined) {
      const answer = this.#fromHeld(info, held, point)
      if (answer !== undefined) return answer
    }
    const end = this.#endOf(info, start)
    const stateText = this.#log.snapshotState(segments, start.seq) ?? '{}'
    const snapshot = { seq: start.seq, ts: start.ts, state: JSON.parse(stateText) as Json }
    if (end === null || end.seq === start.seq) {
      // The open window grows: replayed as it is now, and nothing kept.
      const upper = 'seq' in point ? point.seq : end ? end.seq : info.headSeq
      return this.#replay(segments, snapshot, upper, 'at' in point ? point.at : undefined)
    }
    const built = this.#checkpoints.keeps ? this.#checkpointWindow(segments, snapshot, end) : undefined
    if (built === undefined) return this.#replay(segments, snapshot, 'seq' in point ? point.seq : end.seq, 'at' in point ? point.at : undefined)
    this.#checkpoints.set(segments, start.seq, built.window)
    // Answered from the entries just read: the ones after the nearest checkpoint, up to the point.
    const { from } = nearest(built.window.points, point)
    const mutations: Mutation[] = []
    let last: Entry | undefined
    for (const entry of built.entries) {
      if (entry.seq <= from.seq) continue
      if ('seq' in point ? entry.seq > point.seq : entry.ts > point.at) break
      mutations.push(entry.m)
      last = entry
    }
    if (last === undefined) return { seq: from.seq, ts: from.ts, state: from.state }
    return { seq: last.seq, ts: last.ts, state: applySequence(from.state, mutations) }
  }

  /**
   * The state at `point` from the checkpoints `held` of the window covering it, if they are still
   * this stream's: the entry at their end still has their global position (a deleted stream's id
   * may be reused). That is looked up once per epoch (see the constructor): a closed window's rows
   * never change, and only go with a purge. `undefined`, and dropped, when they are not.
   */
  #fromHeld(info: StreamInfo, held: WindowCheckpoints, point: { at: number } | { seq: number }): StateAt | undefined {
    const segments = info.segments
    const start = held.points[0] as Checkpoint
    const epoch = this.#epoch()
    const current =
      held.end.seq <= info.headSeq &&
      (held.checked === epoch || String(this.#log.entryAt(segments, held.end.seq)?.gpos) === held.gpos)
    if (current) {
      held.checked = epoch
      // A time is first turned into the seq it ends at: then only the entries up to it are read.
      const seq = 'seq' in point ? point.seq : seqAtTime(held, point.at)
      if (seq === undefined) {
        const { from, next } = nearest(held.points, point)
        return this.#replay(segments, from, next ?? held.end.seq, (point as { at: number }).at)
      }
      const { from } = nearest(held.points, { seq })
      if (from.seq === seq) return { seq: from.seq, ts: from.ts, state: from.state }
      return this.#replay(segments, from, seq, undefined)
    }
    this.#checkpoints.delete(segments, start.seq)
    return undefined
  }

  /** The state after the entries `from.seq < seq ≤ upper` (with `ts ≤ maxTs`, when given) applied to `from`'s. */
  #replay(segments: readonly Segment[], from: Checkpoint, upper: number, maxTs: number | undefined): StateAt {
    // One parse: the entries' mutation texts joined into one JSON array.
    const run = this.#log.mutations(segments, from.seq, upper, maxTs)
    if (run.seq === null) return { seq: from.seq, ts: from.ts, state: from.state }
    return { seq: run.seq, ts: run.ts as number, state: applySequence(from.state, JSON.parse(run.mutations) as Mutation[]) }
  }

  /**
   * The checkpoints of the closed window from `start` to `end` (its entries replayed once, the
   * state kept every `CHECKPOINT_SPACING` entries), and those entries. `undefined` for a window
   * without entries.
   */
  #checkpointWindow(segments: readonly Segment[], start: Checkpoint, end: Bound): { window: WindowCheckpoints; entries: Entry[] } | undefined {
    const rows = this.#log.entriesText(segments, start.seq, end.seq)
    if (rows.gpos === null) return undefined
    const entries = JSON.parse(`[${rows.entries}]`) as Entry[]
    const points: Checkpoint[] = [start]
    let times: Float64Array | undefined = new Float64Array(entries.length)
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry
      if (entry.seq !== start.seq + 1 + i || entry.ts < (i === 0 ? start.ts : (times[i - 1] as number))) {
        times = undefined
        break
      }
      times[i] = entry.ts
    }
    let state = start.state
    // A checkpoint after every CHECKPOINT_SPACING entries, short of the last (the next window's start).
    for (let i = CHECKPOINT_SPACING; i < entries.length; i += CHECKPOINT_SPACING) {
      const chunk = entries.slice(i - CHECKPOINT_SPACING, i)
      // Each chunk is a sequence of its own: the states kept before it are never changed by it.
      state = applySequence(state, chunk.map((entry) => entry.m))
      const last = chunk[chunk.length - 1] as Entry
      points.push({ seq: last.seq, ts: last.ts, state })
    }
    const bytes = heldBytes(points) + (times?.byteLength ?? 0)
    return { window: { end, gpos: String(rows.gpos), checked: this.#epoch(), points, times, bytes }, entries }
  }

  #stateInfo(name: string): StreamInfo {
    const info = this.#info(name)
    if (info.kind !== 'state') {
      throw new StateStreamError(ErrorCode.NOT_A_STATE_STREAM, `"${name}" is not a state stream`)
    }
    return info
  }

  #startOf(info: StreamInfo, point: WindowPoint): SnapshotRow | undefined {
    const segments = info.segments
    let start =
      'now' in point
        ? this.#log.snapshotAtOrBefore(segments, info.headSeq)
        : 'at' in point
          ? this.#log.snapshotAtOrBeforeTs(segments, point.at)
          : this.#log.snapshotAtOrBefore(segments, point.seq)
    // Past the head this answer is about (another server of the same database has appended
    // since): the answer stays the one at `info`'s head.
    if (start !== undefined && start.seq > info.headSeq) start = this.#log.snapshotAtOrBefore(segments, info.headSeq)
    // The final bound starts no window: a point there falls in the last one.
    if (start !== undefined && isFinalBound(info, start)) return this.#log.snapshotAtOrBefore(segments, start.seq - 1)
    return start
  }

  /** The end of the window starting at `start`: the next snapshot; `null` while it is the open window. */
  #endOf(info: StreamInfo, start: SnapshotRow): Bound | null {
    const next = this.#log.snapshotAfter(info.segments, start.seq)
    // One taken past `info`'s head (by another server, since) does not close this answer's window.
    if (next !== undefined && next.seq <= info.headSeq) return { seq: next.seq, ts: next.ts }
    // A closed stream without entries: its one window ends where it starts.
    return info.closed ? { seq: start.seq, ts: start.ts } : null
  }
}

/** True for the snapshot a closed stream ends with (after its last entry; none ends at seq 0). */
function isFinalBound(info: StreamInfo, row: SnapshotRow): boolean {
  return info.closed && info.headSeq > 0 && row.seq === info.headSeq
}
