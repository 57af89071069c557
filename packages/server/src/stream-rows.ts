/**
 * The SQLite rows behind the store's writes: streams, producers, and the persistence of append
 * plans (`append-plan.ts`). Every method runs in the caller's transaction and decides nothing: the
 * store (and the pure planners it calls) decide, this layer stores.
 */
import type Database from 'better-sqlite3'
import type { AppendPlan, PlannedSnapshot } from './append-plan.ts'
import { EntryWriter } from './entry-writer.ts'
import type { ProducerRow } from './producer-fence.ts'
import type { RowStore } from './storage-engine.ts'
import type { StreamKind, StreamRow } from './stream-types.ts'

/** The columns of a new stream row. */
export interface NewStream {
  name: string
  contentType: string
  kind: StreamKind
  createdTs: number
  ttlSeconds: number | null
  expiresAt: number | null
  policy: { entries: number; bytes: number; ms: number }
  headSeq: number
  headTs: number
  totalBytes: number
  touchedTs: number
  fork: { sourceId: number; seq: number; snapSeq: number; prefix: number } | null
  /** The snapshot it starts from (S0, or the one a fork shares with its source). */
  snapshot: { ts: number; cumBytes: number }
}

export class StreamRows implements RowStore {
  readonly #entries: EntryWriter
  readonly #stmt

  constructor(db: Database.Database) {
    this.#entries = new EntryWriter(db)
    this.#stmt = {
      byName: db.prepare<[string], StreamRow>('SELECT * FROM streams WHERE name = ?'),
      byId: db.prepare<[number], StreamRow>('SELECT * FROM streams WHERE id = ?'),
      forks: db.prepare<[number], StreamRow>('SELECT * FROM streams WHERE fork_of = ?'),
      insert: db.prepare(
        `INSERT INTO streams (name, content_type, kind, created_ts, ttl_seconds, expires_at, snap_entries, snap_bytes,
           snap_ms, head_seq, head_ts, total_bytes, touched_ts, fork_of, fork_seq, fork_snap_seq, fork_prefix)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      updateHead: db.prepare(
        'UPDATE streams SET head_seq = ?, head_ts = ?, total_bytes = ?, last_stream_seq = ?, touched_ts = ? WHERE id = ?',
      ),
      // Never backwards: an append in the same commit may already have written a later time.
      touch: db.prepare('UPDATE streams SET touched_ts = max(coalesce(touched_ts, 0), ?) WHERE id = ?'),
      close: db.prepare('UPDATE streams SET closed = 1, touched_ts = ? WHERE id = ?'),
      softDelete: db.prepare('UPDATE streams SET deleted = 1 WHERE id = ?'),
      insertSnapshot: db.prepare('INSERT INTO snapshots (stream_id, seq, ts, cum_bytes, state) VALUES (?, ?, ?, ?, ?)'),
      insertMark: db.prepare('INSERT INTO marks (stream_id, seq, cum_bytes) VALUES (?, ?, ?)'),
      producer: db.prepare<[number, string], ProducerRow>('SELECT epoch, last_seq FROM producers WHERE stream_id = ? AND producer_id = ?'),
      upsertProducer: db.prepare(
        `INSERT INTO producers (stream_id, producer_id, epoch, last_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = excluded.epoch, last_seq = excluded.last_seq`,
      ),
      deleteEntries: db.prepare('DELETE FROM entries WHERE stream_id = ?'),
      deleteSnapshots: db.prepare('DELETE FROM snapshots WHERE stream_id = ?'),
      deleteMarks: db.prepare('DELETE FROM marks WHERE stream_id = ?'),
      deleteProducers: db.prepare('DELETE FROM producers WHERE stream_id = ?'),
      deleteStream: db.prepare('DELETE FROM streams WHERE id = ?'),
      saveGpos: db.prepare("UPDATE meta SET value = ? WHERE key = 'gpos'"),
      // Names are ASCII, compared byte by byte (SQLite's BINARY collation): the order of the UNIQUE index.
      names: db.prepare<[string, string, number], { name: string }>('SELECT name FROM streams WHERE name > ? AND name >= ? ORDER BY name LIMIT ?'),
      namesBelow: db.prepare<[string, string, string, number], { name: string }>(
        'SELECT name FROM streams WHERE name > ? AND name >= ? AND name < ? ORDER BY name LIMIT ?',
      ),
      loadGpos: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'gpos'"),
    }
  }

  byName(name: string): StreamRow | undefined {
    return this.#stmt.byName.get(name)
  }

  byId(id: number): StreamRow | undefined {
    return this.#stmt.byId.get(id)
  }

  /** The streams forked from stream `id`. */
  forksOf(id: number): StreamRow[] {
    return this.#stmt.forks.all(id)
  }

  /** Inserts a stream row; returns its id. */
  insert(stream: NewStream): number {
    const { policy, fork } = stream
    const { lastInsertRowid } = this.#stmt.insert.run(
      stream.name,
      stream.contentType,
      stream.kind,
      stream.createdTs,
      stream.ttlSeconds,
      stream.expiresAt,
      policy.entries,
      policy.bytes,
      policy.ms,
      stream.headSeq,
      stream.headTs,
      stream.totalBytes,
      stream.touchedTs,
      fork?.sourceId ?? null,
      fork?.seq ?? null,
      fork?.snapSeq ?? null,
      fork?.prefix ?? null,
    )
    return Number(lastInsertRowid)
  }

  /** Stores a plan's entries, snapshots and marks, and its head, as stream `id`'s. */
  persist(id: number, plan: AppendPlan, lastStreamSeq: string | null, touchedTs: number): void {
    this.#entries.insert(id, plan.entries)
    for (const snapshot of plan.snapshots) this.insertSnapshot(id, snapshot)
    for (const mark of plan.marks) this.#stmt.insertMark.run(id, mark.seq, mark.cumBytes)
    const head = plan.head
    this.#stmt.updateHead.run(head.seq, head.ts, head.totalBytes, lastStreamSeq, touchedTs, id)
  }

  insertSnapshot(id: number, snapshot: PlannedSnapshot): void {
    this.#stmt.insertSnapshot.run(id, snapshot.seq, snapshot.ts, snapshot.cumBytes, snapshot.state)
  }

  /** Records a read of stream `id` at `ts` (a later one already written stays). */
  touch(id: number, ts: number): void {
    this.#stmt.touch.run(ts, id)
  }

  /** Marks stream `id` closed (a close is a write: it restarts a `Stream-TTL` expiry). */
  close(id: number, ts: number): void {
    this.#stmt.close.run(ts, id)
  }

  /** Marks stream `id` deleted, its rows kept for the forks that read through them. */
  softDelete(id: number): void {
    this.#stmt.softDelete.run(id)
  }

  producer(id: number, producerId: string): ProducerRow | undefined {
    return this.#stmt.producer.get(id, producerId)
  }

  upsertProducer(id: number, producerId: string, epoch: number, seq: number): void {
    this.#stmt.upsertProducer.run(id, producerId, epoch, seq)
  }

  /** Removes stream `id` and every row of its. */
  purge(id: number): void {
    this.#stmt.deleteEntries.run(id)
    this.#stmt.deleteSnapshots.run(id)
    this.#stmt.deleteMarks.run(id)
    this.#stmt.deleteProducers.run(id)
    this.#stmt.deleteStream.run(id)
  }

  loadGpos(): number {
    return this.#stmt.loadGpos.get()?.value ?? 0
  }

  saveGpos(gpos: number): void {
    this.#stmt.saveGpos.run(gpos)
  }

  names(after: string, prefix: string, upper: string | undefined, limit: number): string[] {
    const rows = upper === undefined ? this.#stmt.names.all(after, prefix, limit) : this.#stmt.namesBelow.all(after, prefix, upper, limit)
    return rows.map((row) => row.name)
  }
}
