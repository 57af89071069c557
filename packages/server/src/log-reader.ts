/**
 * Reads of a stream's log, snapshots and byte marks across its lineage (`lineage.ts`): every
 * query is one indexed range per segment, so reading a fork costs what reading its source does.
 * The logic is the same for both engines; each gives its statements (SQLite's are here,
 * PostgreSQL's in `postgres/pg-log-statements.ts`). Reads are synchronous calls: SQLite answers
 * at once, PostgreSQL through its pending reads (`postgres/pending-reads.ts`).
 */
import type Database from 'better-sqlite3'
import type { Bound } from '@statestream/common'
import { OPEN_END, segmentOf, slices, snapshotRanges } from './lineage.ts'
import type { Segment } from './lineage.ts'
import type { StoredEntry } from './stream-types.ts'

/** A snapshot's position and the log's size in bytes after its entry. */
export interface SnapshotRow {
  seq: number
  ts: number
  cum_bytes: number
}

/** A run of entries as one JSON array text of their mutations, with the last one's seq and ts. */
export interface MutationRun {
  mutations: string
  seq: number | null
  ts: number | null
}

type Range = [id: number, lo: number, hi: number]

/** A prepared query: its first row, or all of them (a better-sqlite3 statement is one). */
export interface Statement<P extends unknown[], R> {
  get(...params: P): R | undefined
  all(...params: P): R[]
}

/** The queries a `LogReader` runs, each over one stream's rows (the stream id first). */
export interface LogStatements {
  entries: Statement<[...Range, number], StoredEntry>
  entry: Statement<[number, number], StoredEntry>
  entriesText: Statement<Range, { entries: string | null; gpos: number | null }>
  mutations: Statement<Range, MutationRun>
  mutationsUpTo: Statement<[...Range, number], MutationRun>
  bytes: Statement<Range, { bytes: number }>
  mark: Statement<Range, { seq: number; cum_bytes: number }>
  lastSnapshot: Statement<Range, SnapshotRow>
  firstSnapshot: Statement<Range, SnapshotRow>
  lastSnapshotByTs: Statement<[number, number], SnapshotRow>
  snapshots: Statement<[...Range, number, number], SnapshotRow>
  state: Statement<[number, number], { state: string }>
  /** The last seq with `gpos ≤` the given one among the range's last `NEAR_HEAD` entries (`null`: none). */
  lastNearGpos: Statement<[...Range, number], { seq: number | null }>
}

/**
 * Entries near a stream's head that a search by gpos looks at first, in one query: a reader
 * resuming is rarely further behind, and else a binary search (a lookup per step) finds it.
 */
export const NEAR_HEAD = 512

/** The SQLite engine's log statements. */
export function sqliteLogStatements(db: Database.Database): LogStatements {
  return {
    entries: db.prepare<[...Range, number], StoredEntry>(
      'SELECT seq, ts, gpos, data FROM entries WHERE stream_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
    ),
    entry: db.prepare<[number, number], StoredEntry>('SELECT seq, ts, gpos, data FROM entries WHERE stream_id = ? AND seq = ?'),
    // A window's entries as the JSON text of its `entries` array, joined by SQLite in one call (no
    // row objects, no per-entry string in JS). The subquery's primary-key scan gives the rows in
    // seq order; `gpos` is the last entry's global position, which no other entry ever has.
    entriesText: db.prepare<Range, { entries: string | null; gpos: number | null }>(
      `SELECT group_concat('{"seq":' || seq || ',"ts":' || ts || ',"m":' || data || '}', ',') AS entries,
              max(gpos) AS gpos
         FROM (SELECT seq, ts, gpos, data FROM entries WHERE stream_id = ? AND seq > ? AND seq <= ? ORDER BY seq)`,
    ),
    mutations: db.prepare<Range, MutationRun>(
      `SELECT group_concat(data, ',') AS mutations, max(seq) AS seq, max(ts) AS ts FROM (
         SELECT seq, ts, data FROM entries WHERE stream_id = ? AND seq > ? AND seq <= ? ORDER BY seq)`,
    ),
    mutationsUpTo: db.prepare<[...Range, number], MutationRun>(
      `SELECT group_concat(data, ',') AS mutations, max(seq) AS seq, max(ts) AS ts FROM (
         SELECT seq, ts, data FROM entries WHERE stream_id = ? AND seq > ? AND seq <= ? AND ts <= ? ORDER BY seq)`,
    ),
    bytes: db.prepare<Range, { bytes: number }>(
      'SELECT coalesce(sum(length(CAST(data AS BLOB))), 0) AS bytes FROM entries WHERE stream_id = ? AND seq > ? AND seq <= ?',
    ),
    mark: db.prepare<Range, { seq: number; cum_bytes: number }>(
      'SELECT seq, cum_bytes FROM marks WHERE stream_id = ? AND seq > ? AND seq <= ? ORDER BY seq DESC LIMIT 1',
    ),
    // Snapshot ranges are inclusive (the root lends its snapshot 0).
    lastSnapshot: db.prepare<Range, SnapshotRow>(
      'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = ? AND seq >= ? AND seq <= ? ORDER BY seq DESC LIMIT 1',
    ),
    firstSnapshot: db.prepare<Range, SnapshotRow>(
      'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT 1',
    ),
    lastSnapshotByTs: db.prepare<[number, number], SnapshotRow>(
      'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = ? AND ts <= ? ORDER BY ts DESC, seq DESC LIMIT 1',
    ),
    snapshots: db.prepare<[...Range, number, number], SnapshotRow>(
      'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = ? AND seq >= ? AND seq <= ? AND ts <= ? ORDER BY seq LIMIT ?',
    ),
    state: db.prepare<[number, number], { state: string }>('SELECT state FROM snapshots WHERE stream_id = ? AND seq = ?'),
    lastNearGpos: db.prepare<[...Range, number], { seq: number | null }>(
      `SELECT max(seq) AS seq FROM (SELECT seq, gpos FROM entries WHERE stream_id = ? AND seq > ? AND seq <= ? ORDER BY seq DESC LIMIT ${NEAR_HEAD}) WHERE gpos <= ?`,
    ),
  }
}

export class LogReader {
  readonly #stmt: LogStatements

  constructor(statements: LogStatements) {
    this.#stmt = statements
  }

  /** Up to `limit` entries after `after`, in order. */
  entriesAfter(segments: readonly Segment[], after: number, limit: number): StoredEntry[] {
    const out: StoredEntry[] = []
    for (const { id, lo, hi } of slices(segments, after, OPEN_END)) {
      if (out.length >= limit) break
      for (const entry of this.#stmt.entries.all(id, lo, hi, limit - out.length)) out.push(entry)
    }
    return out
  }

  /** Entry `seq`, if the log has it. */
  entryAt(segments: readonly Segment[], seq: number): StoredEntry | undefined {
    const segment = segmentOf(segments, seq)
    return segment === undefined ? undefined : this.#stmt.entry.get(segment.id, seq)
  }

  /**
   * The last seq in `[0, head]` whose entry's global position is at most `gpos`. Along a log gpos
   * grows with seq (a fork's own entries come after everything it inherits), so those entries
   * are a prefix: the newest slice's last entries are asked first, in one query, and only a point
   * further back is searched for.
   */
  lastSeqAtGpos(segments: readonly Segment[], head: number, gpos: number): number {
    const newest = slices(segments, 0, head).at(-1)
    if (newest !== undefined) {
      const near = this.#stmt.lastNearGpos.get(newest.id, newest.lo, newest.hi, gpos)?.seq
      if (near !== null && near !== undefined) return near
    }
    return this.lastSeqWhere(segments, head, (entry) => entry.gpos <= gpos)
  }

  /** The last seq in `[0, head]` whose entry satisfies `below` (which must hold for a prefix of the log). */
  lastSeqWhere(segments: readonly Segment[], head: number, below: (entry: StoredEntry) => boolean): number {
    // A binary search over the primary key: about 20 lookups for a million entries.
    let lo = 0
    let hi = head
    while (lo < hi) {
      const mid = lo + Math.ceil((hi - lo) / 2)
      const entry = this.entryAt(segments, mid)
      if (entry !== undefined && below(entry)) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** Bytes of the log's first `seq` entries: the nearest mark, plus the entries after it. */
  bytesAt(segments: readonly Segment[], seq: number): number {
    let from = 0
    let base = 0
    for (const { id, lo, hi } of slices(segments, 0, seq).reverse()) {
      const mark = this.#stmt.mark.get(id, lo, hi)
      if (mark !== undefined) {
        from = mark.seq
        base = mark.cum_bytes
        break
      }
    }
    let bytes = base
    for (const { id, lo, hi } of slices(segments, from, seq)) bytes += this.#stmt.bytes.get(id, lo, hi)?.bytes ?? 0
    return bytes
  }

  /** The last snapshot at or before `seq`. */
  snapshotAtOrBefore(segments: readonly Segment[], seq: number): SnapshotRow | undefined {
    for (const { id, lo, hi } of snapshotRanges(segments, 0, seq)) {
      const row = this.#stmt.lastSnapshot.get(id, lo, hi)
      if (row !== undefined) return row
    }
    return undefined
  }

  /** The last snapshot whose `ts` is at most `ts` (the latest seq among equal times). */
  snapshotAtOrBeforeTs(segments: readonly Segment[], ts: number): SnapshotRow | undefined {
    for (const { id, lo, hi } of snapshotRanges(segments, 0, OPEN_END)) {
      const candidate = this.#stmt.lastSnapshotByTs.get(id, ts)
      if (candidate === undefined || candidate.seq < lo) continue
      if (candidate.seq <= hi) return candidate
      // Later in that stream than this segment lends: within the segment every snapshot is earlier
      // still (times grow with seq), so the answer is the segment's last one.
      const last = this.#stmt.lastSnapshot.get(id, lo, hi)
      if (last !== undefined) return last
    }
    return undefined
  }

  /** The first snapshot after `seq`: the end of the window that starts at or before it. */
  snapshotAfter(segments: readonly Segment[], seq: number): SnapshotRow | undefined {
    for (const { id, lo, hi } of snapshotRanges(segments, seq + 1, OPEN_END).reverse()) {
      const row = this.#stmt.firstSnapshot.get(id, lo, hi)
      if (row !== undefined) return row
    }
    return undefined
  }

  /** Up to `limit` snapshots from seq `from` on whose `ts` is at most `toTs`, in order. */
  snapshotsFrom(segments: readonly Segment[], from: number, toTs: number, limit: number, upto = OPEN_END): SnapshotRow[] {
    const out: SnapshotRow[] = []
    for (const { id, lo, hi } of snapshotRanges(segments, from, upto).reverse()) {
      if (out.length >= limit) break
      for (const row of this.#stmt.snapshots.all(id, lo, hi, toTs, limit - out.length)) out.push(row)
    }
    return out
  }

  /** The snapshots taken after entry `after` up to entry `upto` (the bounds a catch-up replays). */
  snapshotsBetween(segments: readonly Segment[], after: number, upto: number): Bound[] {
    if (upto <= after) return []
    return this.snapshotsFrom(segments, after + 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, upto).map((row) => ({
      seq: row.seq,
      ts: row.ts,
    }))
  }

  /** The stored state text of the snapshot at `seq` (which must be one the log lends). */
  snapshotState(segments: readonly Segment[], seq: number): string | undefined {
    for (const { id } of snapshotRanges(segments, seq, seq)) return this.#stmt.state.get(id, seq)?.state
    return undefined
  }

  /** Entries `after < seq ≤ upto` as the text of a JSON array's elements, and the last one's gpos. */
  entriesText(segments: readonly Segment[], after: number, upto: number): { entries: string; gpos: number | null } {
    const parts: string[] = []
    let gpos: number | null = null
    for (const { id, lo, hi } of slices(segments, after, upto)) {
      const row = this.#stmt.entriesText.get(id, lo, hi)
      if (row?.entries == null) continue
      parts.push(row.entries)
      gpos = row.gpos
    }
    return { entries: parts.join(','), gpos }
  }

  /** The mutations of entries `after < seq ≤ upto` (with `ts ≤ maxTs` when given) as one JSON array text. */
  mutations(segments: readonly Segment[], after: number, upto: number, maxTs?: number): MutationRun {
    const parts: string[] = []
    let seq: number | null = null
    let ts: number | null = null
    for (const { id, lo, hi } of slices(segments, after, upto)) {
      const row = maxTs === undefined ? this.#stmt.mutations.get(id, lo, hi) : this.#stmt.mutationsUpTo.get(id, lo, hi, maxTs)
      if (row?.mutations == null) continue
      parts.push(row.mutations)
      seq = row.seq
      ts = row.ts
    }
    return { mutations: `[${parts.join(',')}]`, seq, ts }
  }
}
