/**
 * History queries of state streams: the window around a time or seq, the windows over a range,
 * and the state at a time or seq. Every answer starts from the nearest snapshot, so its cost is
 * bounded by one window, never by the length of the log. Window bodies are assembled from the
 * stored JSON text without parsing it.
 */
import type Database from 'better-sqlite3'
import { ErrorCode, StateStreamError, applySequence, encodeOffset } from '@statestream/common'
import type { Bound, Json, Mutation, StateAt } from '@statestream/common'
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

/** A run of entries as one JSON array of their mutations, with the last one's seq and ts. */
interface MutationRun {
  mutations: string
  seq: number | null
  ts: number | null
}

interface SnapshotRow {
  seq: number
  ts: number
  cum_bytes: number
}

export class HistoryReader {
  readonly #info: (name: string) => StreamInfo
  readonly #stmt

  constructor(db: Database.Database, info: (name: string) => StreamInfo) {
    this.#info = info
    this.#stmt = {
      atTs: db.prepare<[number, number], SnapshotRow>(
        'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = ? AND ts <= ? ORDER BY ts DESC, seq DESC LIMIT 1',
      ),
      atSeq: db.prepare<[number, number], SnapshotRow>(
        'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1',
      ),
      after: db.prepare<[number, number], SnapshotRow>(
        'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = ? AND seq > ? ORDER BY seq LIMIT 1',
      ),
      range: db.prepare<[number, number, number, number], SnapshotRow>(
        'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = ? AND seq >= ? AND ts <= ? ORDER BY seq LIMIT ?',
      ),
      state: db.prepare<[number, number], { state: string }>(
        'SELECT state FROM snapshots WHERE stream_id = ? AND seq = ?',
      ),
      // A window's entries as the JSON text of the body's `entries` array, joined by SQLite in one
      // call: no row objects, no per-entry string in JS (about 1.8× faster than `.raw().all()` and
      // a join in JS). The subquery's primary-key scan gives the rows in seq order (an ordered
      // aggregate, `group_concat(… ORDER BY seq)`, would sort them again in a temp B-tree).
      // `gpos` is the last entry's global position, which no other entry of any stream, past or
      // future, will have.
      entriesText: db.prepare<[number, number, number], { entries: string | null; gpos: number | null }>(
        `SELECT group_concat('{"seq":' || seq || ',"ts":' || ts || ',"m":' || data || '}', ',') AS entries,
                max(gpos) AS gpos
           FROM (SELECT seq, ts, gpos, data FROM entries WHERE stream_id = ? AND seq > ? AND seq <= ? ORDER BY seq)`,
      ),
      mutations: db.prepare<[number, number, number], MutationRun>(
        `SELECT '[' || group_concat(data, ',') || ']' AS mutations, max(seq) AS seq, max(ts) AS ts FROM (
           SELECT seq, ts, data FROM entries WHERE stream_id = ? AND seq > ? AND seq <= ? ORDER BY seq)`,
      ),
      mutationsUpTo: db.prepare<[number, number, number, number], MutationRun>(
        `SELECT '[' || group_concat(data, ',') || ']' AS mutations, max(seq) AS seq, max(ts) AS ts FROM (
           SELECT seq, ts, data FROM entries WHERE stream_id = ? AND seq > ? AND seq <= ? AND ts <= ? ORDER BY seq)`,
      ),
    }
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
    const endRow = this.#stmt.after.get(info.id, start.seq)
    const end = endRow ? { seq: endRow.seq, ts: endRow.ts } : null
    const upper = end ? end.seq : info.headSeq
    if (after !== undefined && after > upper) {
      // Resuming past the window would hand out a nextOffset beyond what the log holds.
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `after=${after} is beyond the window, which ends at seq ${upper}`)
    }
    const from = Math.max(start.seq, after ?? start.seq)
    const rows = this.#stmt.entriesText.get(info.id, from, upper)
    const state = this.#stmt.state.get(info.id, start.seq)?.state ?? '{}'
    const body =
      `{"stream":${stream},"start":{"seq":${start.seq},"ts":${start.ts},"state":${state}},` +
      `"entries":[${rows?.entries ?? ''}],"end":${end ? JSON.stringify(end) : 'null'},` +
      `"nextOffset":"${encodeOffset(Math.max(from, upper))}"}`
    const identity = end !== null && rows?.gpos != null ? `${rows.gpos}.${start.seq}.${from}.${end.seq}` : null
    return { body, closed: end !== null, identity, start: { seq: start.seq, ts: start.ts }, end }
  }

  /** Bounds of the windows covering `[from, to]`, in time order (at most `MAX_LISTED_WINDOWS`). */
  windows(name: string, from: number, to: number): Array<{ start: Bound; end: Bound | null; entries: number; bytes: number }> {
    const info = this.#stateInfo(name)
    if (to < info.createdTs || to < from) return []
    const first = this.#stmt.atTs.get(info.id, from)
    const rows = this.#stmt.range.all(info.id, first?.seq ?? 0, to, MAX_LISTED_WINDOWS)
    const last = rows[rows.length - 1]
    const tail = last ? this.#stmt.after.get(info.id, last.seq) : undefined
    return rows.map((row, i) => {
      const next = rows[i + 1] ?? tail
      return {
        start: { seq: row.seq, ts: row.ts },
        end: next ? { seq: next.seq, ts: next.ts } : null,
        entries: (next ? next.seq : info.headSeq) - row.seq,
        bytes: (next ? next.cum_bytes : info.totalBytes) - row.cum_bytes,
      }
    })
  }

  /** The state after every entry with `ts ≤ at`, or after entry `seq`. */
  state(name: string, point: { at: number } | { seq: number }): StateAt {
    const info = this.#stateInfo(name)
    if ('seq' in point && point.seq > info.headSeq) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `seq ${point.seq} is beyond the head of the stream (${info.headSeq})`)
    }
    const start = this.#startOf(info, point)
    if (start === undefined) return { seq: null, ts: null, state: null }
    const end = this.#stmt.after.get(info.id, start.seq)
    const upper = 'seq' in point ? point.seq : end ? end.seq : info.headSeq
    // One call, one parse: SQLite joins the window's mutation texts into a JSON array.
    const run =
      'at' in point
        ? this.#stmt.mutationsUpTo.get(info.id, start.seq, upper, point.at)
        : this.#stmt.mutations.get(info.id, start.seq, upper)
    const snapshot = JSON.parse(this.#stmt.state.get(info.id, start.seq)?.state ?? '{}') as Json
    if (run === undefined || run.seq === null) return { seq: start.seq, ts: start.ts, state: snapshot }
    const state = applySequence(snapshot, JSON.parse(run.mutations) as Mutation[])
    return { seq: run.seq, ts: run.ts as number, state }
  }

  #stateInfo(name: string): StreamInfo {
    const info = this.#info(name)
    if (info.kind !== 'state') {
      throw new StateStreamError(ErrorCode.NOT_A_STATE_STREAM, `"${name}" is not a state stream`)
    }
    return info
  }

  #startOf(info: StreamInfo, point: WindowPoint): SnapshotRow | undefined {
    if ('now' in point) return this.#stmt.atSeq.get(info.id, info.headSeq)
    if ('at' in point) return this.#stmt.atTs.get(info.id, point.at)
    return this.#stmt.atSeq.get(info.id, point.seq)
  }
}
