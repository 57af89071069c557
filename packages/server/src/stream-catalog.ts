/**
 * Which streams there are, and in what life: the store's records by name (an LRU cache over the
 * `streams` rows, write-through), each with its lineage and head, the head states of state streams
 * (`HeadStates`, bounded in bytes), and the rules of a stream's life.
 *
 * A stream is alive until deleted or expired. A dead stream that a living fork (at any depth) still
 * reads through is *retained*: gone for its own readers (410), its name still taken, its rows kept.
 * Once nothing living needs it, it is collectable: `collect` purges its rows (with those of its dead
 * forks), then those of each source that thereby became collectable too.
 *
 * Where other processes write the same database (`shared`), nothing that can change is kept
 * between operations: every lookup reads the stream's row (one query, which the engine answers
 * once per operation), a held head state is used only while its seq is still the row's head, and
 * only the lineages (which never change) stay cached.
 */
import { applySequence } from '@statestream/common'
import type { Json, Mutation } from '@statestream/common'
import type { HeadCache, HeadState } from './head-states.ts'
import { forkLineage, ownLineage } from './lineage.ts'
import type { Segment } from './lineage.ts'
import type { LogReader } from './log-reader.ts'
import { isExpired } from './stream-config.ts'
import type { RowStore } from './storage-engine.ts'
import type { StreamConfig } from './stream-config.ts'
import type { StreamInfo, StreamRecord, StreamRow } from './stream-types.ts'
import type { TtlTouches } from './ttl-touches.ts'

/**
 * What a lookup by name finds: a stream alive, one retained for its forks (`gone`), or none —
 * and then, when a dead row is still there, its id, to collect.
 */
export type Lookup =
  | { status: 'live'; record: StreamRecord }
  | { status: 'gone'; record: StreamRecord }
  | { status: 'absent'; collectable?: number }

export class StreamCatalog {
  readonly #rows: RowStore
  readonly #log: LogReader
  readonly #now: () => number
  readonly #cacheSize: number
  readonly #records = new Map<string, StreamRecord>()
  readonly #heads: HeadCache
  readonly #touches: TtlTouches
  readonly #shared: boolean
  /** Shared: the lineage of each stream id read so far (it never changes). */
  readonly #lineages = new Map<number, Segment[]>()
  #epoch = 0

  /**
   * @param cacheSize streams whose records stay cached (none when `shared`).
   * @param heads where head states are held.
   * @param touches reads of TTL streams not yet written (a record loaded from its row needs them).
   * @param shared other processes write the same database.
   */
  constructor(rows: RowStore, log: LogReader, now: () => number, cacheSize: number, heads: HeadCache, touches: TtlTouches, shared = false) {
    this.#rows = rows
    this.#log = log
    this.#now = now
    this.#cacheSize = shared ? 0 : cacheSize
    this.#heads = heads
    this.#touches = touches
    this.#shared = shared
  }

  /** The stream called `name`, and whether it is alive. */
  lookup(name: string): Lookup {
    let record = this.#shared ? undefined : this.#records.get(name)
    if (record !== undefined) {
      // Refresh its place in the LRU order.
      this.#records.delete(name)
      this.#records.set(name, record)
    } else {
      const row = this.#rows.byName(name)
      if (row === undefined) return { status: 'absent' }
      record = this.recordOf(row)
      this.remember(record)
    }
    if (this.alive(record)) return { status: 'live', record }
    if (this.retained(record.id)) return { status: 'gone', record }
    return { status: 'absent', collectable: record.id }
  }

  /** Neither deleted nor expired. */
  alive(info: { deleted: boolean } & Pick<StreamInfo, 'expiresAt' | 'ttlSeconds' | 'touchedTs'>): boolean {
    return !info.deleted && !isExpired(info, this.#now())
  }

  /** True when a living fork (at any depth) reads through stream `id`. */
  retained(id: number): boolean {
    for (const row of this.#rows.forksOf(id)) {
      // The cache knows of touches not yet persisted.
      const cached = this.#records.get(row.name)
      const fork = cached !== undefined && cached.id === row.id ? cached : this.#rowLife(row)
      if (this.alive(fork) || this.retained(row.id)) return true
    }
    return false
  }

  /**
   * In a write transaction: purges stream `id` (with its dead forks) if it is collectable — or at
   * once with `force` (a delete of a stream nothing needs) — then each of its sources that thereby
   * became collectable.
   */
  collect(id: number, force = false): StreamInfo[] {
    const purged: StreamInfo[] = []
    let row = this.#rows.byId(id)
    let first = true
    while (row !== undefined) {
      if (!(first && force) && (this.alive(this.#rowLife(row)) || this.retained(row.id))) break
      first = false
      const source = row.fork_of
      this.#purgeTree(row, purged)
      row = source === null ? undefined : this.#rows.byId(source)
    }
    return purged
  }

  /** In a write transaction: inserts the row of a new stream and returns its record (not yet cached). */
  insert(
    config: StreamConfig,
    name: string,
    start: Pick<StreamRecord, 'createdTs' | 'headSeq' | 'headTs' | 'totalBytes' | 'lastSnapshot'> & {
      fork: { source: StreamInfo; seq: number; snapSeq: number; prefix: number } | null
    },
  ): StreamRecord {
    const now = this.#now()
    const fork = start.fork
    const id = this.#rows.insert({
      name,
      contentType: config.contentType,
      kind: config.kind,
      createdTs: start.createdTs,
      ttlSeconds: config.ttlSeconds,
      expiresAt: config.expiresAt,
      policy: config.policy,
      headSeq: start.headSeq,
      headTs: start.headTs,
      totalBytes: start.totalBytes,
      touchedTs: now,
      fork: fork && { sourceId: fork.source.id, seq: fork.seq, snapSeq: fork.snapSeq, prefix: fork.prefix },
      snapshot: { ts: start.lastSnapshot.ts, cumBytes: start.lastSnapshot.cumBytes },
    })
    return {
      id,
      name,
      contentType: config.contentType,
      kind: config.kind,
      createdTs: start.createdTs,
      headSeq: start.headSeq,
      headTs: start.headTs,
      totalBytes: start.totalBytes,
      ttlSeconds: config.ttlSeconds,
      expiresAt: config.expiresAt,
      touchedTs: now,
      policy: config.policy,
      lastStreamSeq: null,
      closed: false,
      deleted: false,
      segments: fork ? forkLineage(fork.source.segments, id, fork.seq, fork.snapSeq) : ownLineage(id),
      fork: fork && { sourceId: fork.source.id, seq: fork.seq, prefix: fork.prefix },
      lastSnapshot: start.lastSnapshot,
    }
  }

  /** The record of stream `id`, whatever its life, or `undefined` once its row is gone. */
  recordById(id: number): StreamRecord | undefined {
    const row = this.#rows.byId(id)
    return row === undefined ? undefined : this.recordOf(row)
  }

  /** Caches `record` as the stream of its name. */
  remember(record: StreamRecord): void {
    if (this.#shared) return
    this.#records.delete(record.name)
    this.#records.set(record.name, record)
    if (this.#records.size > this.#cacheSize) {
      const oldest = this.#records.keys().next().value
      if (oldest !== undefined) this.#records.delete(oldest)
    }
  }

  /** Drops the cached record of `name` (it reloads from its row when next looked up). */
  forget(name: string): void {
    this.#records.delete(name)
  }

  /** Drops every cached record and head state (after a failed commit, memory may be ahead of the file). */
  clear(): void {
    this.#epoch++
    this.#records.clear()
    this.#heads.clear()
  }

  /**
   * Counts the events after which rows this process read may be gone: a purge (its stream's id may
   * then be given to a new stream, in SQLite) and a failed commit. What was read before the last
   * one is checked against the log again before it is used (`HistoryReader`). A stream's rows are
   * only ever taken away by a purge, and an id is only ever reused by the SQLite engine, whose
   * file one process holds alone: so this process sees every event that matters.
   */
  get epoch(): number {
    return this.#epoch
  }

  /** The record of a row: its metadata, lineage and last snapshot (head state loaded on use). */
  recordOf(row: StreamRow): StreamRecord {
    const segments = this.#segmentsOf(row)
    const info = rowInfo(row)
    info.touchedTs = this.#touches.pending(row.id) ?? info.touchedTs
    return { ...info, segments, lastSnapshot: this.#lastSnapshot(row, segments) }
  }

  /**
   * The head state of a state stream and its estimated size: held, or rebuilt from the last
   * snapshot and the entries after it (one window's work) and held from then on — unless not
   * `hold` (a stream whose creation has not committed: its id may yet be rolled back and reused).
   */
  head(record: StreamRecord, hold = true): HeadState {
    const held = this.#heads.get(record.id)
    if (held !== undefined && held.seq === record.headSeq) return held
    // A stream made by no fork starts from {}: nothing to read (its rows may not be written yet).
    if (record.headSeq === 0 && record.fork === null) return { state: {}, bytes: 2 }
    const { seq } = record.lastSnapshot
    const text = this.#log.snapshotState(record.segments, seq) ?? '{}'
    const run = this.#log.mutations(record.segments, seq, record.headSeq)
    const snapshot = JSON.parse(text) as Json
    const state = run.seq === null ? snapshot : applySequence(snapshot, JSON.parse(run.mutations) as Mutation[])
    // The snapshot's text and every mutation's since (the run's commas and brackets stand for the JSON's).
    const bytes = text.length + (run.seq === null ? 0 : run.mutations.length)
    if (hold) this.#heads.set(record.id, { state, bytes, seq: record.headSeq })
    return { state, bytes }
  }

  /** Holds `state` as the head of stream `id` after entry `seq` (after a committed append). */
  setHead(id: number, seq: number, state: Json, bytes: number): void {
    this.#heads.set(id, { state, bytes, seq })
  }

  /** Estimated bytes of head states held, and how many. */
  get stateCache(): { bytes: number; streams: number } {
    return { bytes: this.#heads.bytes, streams: this.#heads.size }
  }

  /** What a row says of its life, with the reads not yet written. */
  #rowLife(row: StreamRow): { deleted: boolean } & Pick<StreamInfo, 'expiresAt' | 'ttlSeconds' | 'touchedTs'> {
    const touched = this.#touches.pending(row.id) ?? row.touched_ts ?? row.created_ts
    return { deleted: row.deleted === 1, expiresAt: row.expires_at, ttlSeconds: row.ttl_seconds, touchedTs: touched }
  }

  /** Purges `row` and its forks; adds each to `purged` (its live readers are to be told it is gone). */
  #purgeTree(row: StreamRow, purged: StreamInfo[]): void {
    this.#epoch++
    for (const fork of this.#rows.forksOf(row.id)) this.#purgeTree(fork, purged)
    purged.push({ ...rowInfo(row), segments: this.#segmentsOf(row) })
    this.#rows.purge(row.id)
    // Safe inside the savepoint: a cache miss only reloads.
    if (this.#records.get(row.name)?.id === row.id) this.#records.delete(row.name)
    this.#heads.delete(row.id)
    this.#touches.forget(row.id)
  }

  #segmentsOf(row: StreamRow): Segment[] {
    if (row.fork_of === null) return ownLineage(row.id)
    const known = this.#lineages.get(row.id)
    if (known !== undefined) return known
    const source = this.#rows.byId(row.fork_of)
    // No fork outlives a source it reads through; a missing one means a dead fork's leftovers.
    if (source === undefined) return ownLineage(row.id)
    const segments = forkLineage(this.#segmentsOf(source), row.id, row.fork_seq ?? 0, row.fork_snap_seq ?? 0)
    if (this.#shared) this.#lineages.set(row.id, segments)
    return segments
  }

  /** A state stream's last snapshot: kept in its row by some engines, else read from the log. */
  #lastSnapshot(row: StreamRow, segments: readonly Segment[]): StreamRecord['lastSnapshot'] {
    if (row.snap_seq !== undefined && row.snap_ts !== undefined && row.snap_cum_bytes !== undefined) {
      return { seq: row.snap_seq, ts: row.snap_ts, cumBytes: row.snap_cum_bytes }
    }
    const last = row.kind === 'state' ? this.#log.snapshotAtOrBefore(segments, row.head_seq) : undefined
    return last ? { seq: last.seq, ts: last.ts, cumBytes: last.cum_bytes } : { seq: 0, ts: row.created_ts, cumBytes: 0 }
  }
}

/** A row's metadata (without its lineage and last snapshot). */
function rowInfo(row: StreamRow): Omit<StreamRecord, 'segments' | 'lastSnapshot'> {
  return {
    id: row.id,
    name: row.name,
    contentType: row.content_type,
    kind: row.kind,
    createdTs: row.created_ts,
    headSeq: row.head_seq,
    headTs: row.head_ts,
    totalBytes: row.total_bytes,
    ttlSeconds: row.ttl_seconds,
    expiresAt: row.expires_at,
    touchedTs: row.touched_ts ?? row.created_ts,
    policy: { entries: row.snap_entries, bytes: row.snap_bytes, ms: row.snap_ms },
    lastStreamSeq: row.last_stream_seq,
    closed: row.closed === 1,
    deleted: row.deleted === 1,
    fork: row.fork_of === null ? null : { sourceId: row.fork_of, seq: row.fork_seq ?? 0, prefix: row.fork_prefix ?? 0 },
  }
}
