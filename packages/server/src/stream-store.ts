/**
 * The store of streams: their logs, snapshots and idempotent producers in SQLite. All writes go
 * through the group-commit queue; reads run directly (better-sqlite3 is synchronous, so a read
 * never sees a write half done). Each stream's metadata and, for state streams, its head state
 * are cached in memory (LRU), write-through.
 */
import { isAscii } from 'node:buffer'
import type Database from 'better-sqlite3'
import {
  DEFAULT_SNAPSHOT_POLICY,
  ErrorCode,
  MAX_JSON_DEPTH,
  StateStreamError,
  apply,
  applySequence,
  inSequence,
  diff,
  mutationOf,
  parseJson,
  quote,
  splitMessages,
  stringifyJson,
  validateMessage,
} from '@statestream/common'
import type { Bound, Json, Mutation, SnapshotPolicy } from '@statestream/common'
import { Checkpointer, DEFAULT_CHECKPOINT_MS } from './checkpointer.ts'
import { openDatabase } from './db.ts'
import { EntryWriter } from './entry-writer.ts'
import { elementTexts } from './element-text.ts'
import { fenceProducer } from './producer-fence.ts'
import type { Durability } from './db.ts'
import { DEFAULT_STATE_CACHE_BYTES, HeadStates } from './head-states.ts'
import type { HeadState } from './head-states.ts'
import { HistoryReader } from './history-reader.ts'
import { mediaType } from './stream-types.ts'
import type {
  AppendRequest,
  AppendResult,
  CreateStream,
  Producer,
  StoreEvent,
  StoredEntry,
  StreamInfo,
  StreamRecord,
  StreamRow,
} from './stream-types.ts'
import { TtlTouches } from './ttl-touches.ts'
import { WriteQueue } from './write-queue.ts'
import type { JobOutcome } from './write-queue.ts'

/** Options of a `StreamStore`. */
export interface StreamStoreOptions {
  /** SQLite file; `:memory:` (the default) keeps everything in memory. */
  file?: string
  /** See `Durability`. Default `normal`. */
  durability?: Durability
  /** Default snapshot policy of new state streams (each limit may be overridden per stream). */
  snapshotPolicy?: Partial<SnapshotPolicy>
  /** Clock, ms since the epoch. Default `Date.now`. */
  now?: () => number
  /** Streams whose metadata stays cached. Default 10,000. */
  cacheSize?: number
  /**
   * Budget of the head states held in memory, in bytes of their JSON text (estimated); the least
   * recently used are dropped past it and rebuilt from a snapshot when next needed. Default 128 MiB.
   */
  stateCacheBytes?: number
  /**
   * Time between two WAL checkpoints by a worker thread, ms (see `Checkpointer`); 0 leaves them
   * all to the writer. Default 20. Only for a file: an in-memory database has no WAL.
   */
  checkpointMs?: number
}


export class StreamStore {
  readonly #db: Database.Database
  readonly #checkpointer: Checkpointer | undefined
  readonly #queue: WriteQueue
  readonly #entries: EntryWriter
  readonly #now: () => number
  readonly #policy: SnapshotPolicy
  readonly #cacheSize: number
  readonly #records = new Map<string, StreamRecord>()
  readonly #heads: HeadStates
  readonly #touches: TtlTouches
  readonly #listeners = new Set<(event: StoreEvent) => void>()
  readonly #stmt
  /** Reads history (windows, states) from snapshots and the log. */
  readonly history: HistoryReader
  #gpos: number
  #closed = false

  constructor(options: StreamStoreOptions = {}) {
    const file = options.file ?? ':memory:'
    this.#db = openDatabase(file, options.durability)
    const checkpointMs = options.checkpointMs ?? DEFAULT_CHECKPOINT_MS
    if (checkpointMs > 0 && file !== '' && !this.#db.memory) this.#checkpointer = new Checkpointer(file, options.durability ?? 'normal', checkpointMs)
    this.#now = options.now ?? Date.now
    this.#policy = { ...DEFAULT_SNAPSHOT_POLICY, ...options.snapshotPolicy }
    this.#cacheSize = options.cacheSize ?? 10_000
    this.#heads = new HeadStates(options.stateCacheBytes ?? DEFAULT_STATE_CACHE_BYTES)
    const db = this.#db
    this.#stmt = {
      streamByName: db.prepare<[string], StreamRow>('SELECT * FROM streams WHERE name = ?'),
      insertStream: db.prepare(
        `INSERT INTO streams (name, content_type, kind, created_ts, ttl_seconds, expires_at,
           snap_entries, snap_bytes, snap_ms, head_seq, head_ts, total_bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0)`,
      ),
      updateHead: db.prepare(
        'UPDATE streams SET head_seq = ?, head_ts = ?, total_bytes = ?, last_stream_seq = ?, touched_ts = ? WHERE id = ?',
      ),
      insertSnapshot: db.prepare(
        'INSERT INTO snapshots (stream_id, seq, ts, cum_bytes, state) VALUES (?, ?, ?, ?, ?)',
      ),
      lastSnapshot: db.prepare<[number], { seq: number; ts: number; cum_bytes: number }>(
        'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = ? ORDER BY seq DESC LIMIT 1',
      ),
      snapshotState: db.prepare<[number, number], { state: string }>(
        'SELECT state FROM snapshots WHERE stream_id = ? AND seq = ?',
      ),
      entriesAfter: db.prepare<[number, number, number], { seq: number; ts: number; gpos: number; data: string | Buffer }>(
        'SELECT seq, ts, gpos, data FROM entries WHERE stream_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      gposAt: db.prepare<[number, number], { gpos: number }>('SELECT gpos FROM entries WHERE stream_id = ? AND seq = ?'),
      lastSeq: db.prepare<[number], { seq: number }>('SELECT seq FROM entries WHERE stream_id = ? ORDER BY seq DESC LIMIT 1'),
      snapshotsBetween: db.prepare<[number, number, number], Bound>(
        'SELECT seq, ts FROM snapshots WHERE stream_id = ? AND seq > ? AND seq <= ? ORDER BY seq',
      ),
      producer: db.prepare<[number, string], { epoch: number; last_seq: number }>(
        'SELECT epoch, last_seq FROM producers WHERE stream_id = ? AND producer_id = ?',
      ),
      upsertProducer: db.prepare(
        `INSERT INTO producers (stream_id, producer_id, epoch, last_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = excluded.epoch, last_seq = excluded.last_seq`,
      ),
      deleteEntries: db.prepare('DELETE FROM entries WHERE stream_id = ?'),
      deleteSnapshots: db.prepare('DELETE FROM snapshots WHERE stream_id = ?'),
      deleteProducers: db.prepare('DELETE FROM producers WHERE stream_id = ?'),
      deleteStream: db.prepare('DELETE FROM streams WHERE id = ?'),
      saveGpos: db.prepare("UPDATE meta SET value = ? WHERE key = 'gpos'"),
      loadGpos: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'gpos'"),
    }
    this.#entries = new EntryWriter(db)
    this.#gpos = this.#stmt.loadGpos.get()?.value ?? 0
    this.#touches = new TtlTouches(db, () => {
      if (!this.#closed) this.#write(() => ({ result: undefined })).catch(() => {})
    })
    this.#queue = new WriteQueue(
      db,
      () => {
        this.#touches.write()
        this.#stmt.saveGpos.run(this.#gpos)
      },
      () => {
        // The commit failed: memory may be ahead of the file, so forget it and reload.
        this.#records.clear()
        this.#heads.clear()
        this.#gpos = this.#stmt.loadGpos.get()?.value ?? 0
      },
      // The checkpoint worker sleeps until there is something to copy.
      () => this.#checkpointer?.committed(),
    )
    this.history = new HistoryReader(db, (name) => this.get(name))
  }

  /** The server-wide global position: entries appended to all streams so far. */
  get gpos(): number {
    return this.#gpos
  }

  /** The clock the store stamps entries with. */
  now(): number {
    return this.#now()
  }

  /** Calls `listener` after every committed append or delete. Returns the unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** A stream's metadata; throws `STREAM_NOT_FOUND` when it does not exist (or has expired). */
  get(name: string): StreamInfo {
    return this.#record(name)
  }

  /** A stream's metadata, or `undefined` when it does not exist. */
  find(name: string): StreamInfo | undefined {
    return this.#find(name)
  }

  /**
   * Records a read of a `Stream-TTL` stream: its sliding expiry starts again from now (Durable
   * Streams §5.1; a write does this by itself). Does nothing for other streams. Call it once the
   * read is known to be valid. It writes nothing itself: the next group commit does.
   */
  touch(name: string): void {
    const record = this.#find(name)
    if (record === undefined || record.ttlSeconds === null || this.#closed) return
    const now = this.#now()
    record.touchedTs = now
    this.#touches.touch(record.id, now)
  }

  /** Estimated bytes of head states held in memory, and how many (for metrics and tests). */
  get stateCache(): { bytes: number; streams: number } {
    return { bytes: this.#heads.bytes, streams: this.#heads.size }
  }

  /** Creates a stream, or confirms one with the same configuration exists (`created: false`). */
  create(request: CreateStream): Promise<{ created: boolean; info: StreamInfo }> {
    return this.#write<{ created: boolean; info: StreamInfo }>(() => {
      const existing = this.#find(request.name)
      if (existing !== undefined) {
        if (!sameConfig(existing, request)) {
          throw new StateStreamError(
            ErrorCode.STREAM_CONFLICT,
            `stream "${request.name}" already exists with a different configuration`,
          )
        }
        return { result: { created: false, info: existing } }
      }
      const now = this.#now()
      // An expired stream still has rows; it is gone for readers, so its name is free again.
      const stale = this.#stmt.streamByName.get(request.name)
      if (stale !== undefined) this.#purge(stale.id, request.name)
      const policy = { ...this.#policy, ...request.policy }
      const { lastInsertRowid } = this.#stmt.insertStream.run(
        request.name,
        request.contentType,
        request.kind,
        now,
        request.ttlSeconds ?? null,
        request.expiresAt ?? null,
        policy.entries,
        policy.bytes,
        policy.ms,
        now,
      )
      const record: StreamRecord = {
        id: Number(lastInsertRowid),
        name: request.name,
        contentType: request.contentType,
        kind: request.kind,
        createdTs: now,
        headSeq: 0,
        headTs: now,
        totalBytes: 0,
        ttlSeconds: request.ttlSeconds ?? null,
        expiresAt: request.expiresAt ?? null,
        touchedTs: now,
        policy,
        lastStreamSeq: null,
        lastSnapshot: { seq: 0, ts: now, cumBytes: 0 },
      }
      if (record.kind === 'state') {
        // S0: the initial state `{}` at seq 0, so every window starts from a stored snapshot.
        this.#stmt.insertSnapshot.run(record.id, 0, now, 0, '{}')
      }
      const first =
        request.body !== undefined && request.body.length > 0
          ? this.#appendBody(record, request.body, true)
          : undefined
      return {
        result: { created: true, info: record },
        apply: () => {
          if (record.kind === 'state') this.#heads.set(record.id, {}, 2)
          first?.apply()
          this.#remember(record)
        },
        afterCommit: () => first?.afterCommit(),
      }
    })
  }

  /** Appends a request's messages atomically (all or nothing). */
  append(request: AppendRequest): Promise<AppendResult> {
    return this.#write<AppendResult>(() => {
      const record = this.#record(request.name)
      if (mediaType(request.contentType) !== mediaType(record.contentType)) {
        throw new StateStreamError(
          ErrorCode.CONTENT_TYPE_MISMATCH,
          `the stream's content type is ${record.contentType}, the request's is ${request.contentType}`,
        )
      }
      const producer = request.producer
      if (producer !== undefined) {
        const duplicate = fenceProducer(this.#stmt.producer.get(record.id, producer.id), producer)
        if (duplicate !== undefined) {
          return { result: { status: 'duplicate', headSeq: record.headSeq, headTs: record.headTs, producer: duplicate } }
        }
      }
      if (request.streamSeq !== undefined && record.lastStreamSeq !== null && request.streamSeq <= record.lastStreamSeq) {
        throw new StateStreamError(
          ErrorCode.STREAM_SEQ_REGRESSION,
          `Stream-Seq ${quote(request.streamSeq)} is not greater than the last one, ${quote(record.lastStreamSeq)}`,
        )
      }
      const appended = this.#appendBody(record, request.body, false, request.streamSeq)
      if (producer !== undefined) {
        this.#stmt.upsertProducer.run(record.id, producer.id, producer.epoch, producer.seq)
      }
      return {
        result: {
          status: 'appended',
          headSeq: appended.headSeq,
          headTs: appended.headTs,
          ...(producer && { producer: { epoch: producer.epoch, seq: producer.seq } }),
        },
        apply: appended.apply,
        afterCommit: appended.afterCommit,
      }
    })
  }

  /**
   * Stores the mutation from the current state to `state` (nothing when they are equal). The
   * mutation is a JSON Patch, or a `set` when that is smaller.
   */
  setState(name: string, state: Json): Promise<{ stored: boolean; seq: number; ts: number }> {
    return this.#write<{ stored: boolean; seq: number; ts: number }>(() => {
      const record = this.#stateRecord(name)
      const ops = diff(this.#headState(record), state)
      if (ops.length === 0) return { result: { stored: false, seq: record.headSeq, ts: record.headTs } }
      const patch = stringifyJson({ patch: ops })
      const set = stringifyJson({ set: state })
      const body = Buffer.from(patch.length <= set.length ? patch : set)
      // Our own body: `state` was checked at the boundary, and its wrapper adds a level or three.
      const appended = this.#appendBody(record, body, false, undefined, false)
      return {
        result: { stored: true, seq: appended.headSeq, ts: appended.headTs },
        apply: appended.apply,
        afterCommit: appended.afterCommit,
      }
    })
  }

  /** Deletes a stream and all its data. */
  delete(name: string): Promise<void> {
    return this.#write(() => {
      const record = this.#record(name)
      this.#purge(record.id, name)
      return {
        result: undefined,
        apply: () => this.#records.delete(name),
        afterCommit: () => this.#emit({ type: 'delete', stream: record }),
      }
    })
  }

  /** Up to `limit` entries after `seq`, in order. */
  entriesAfter(info: StreamInfo, seq: number, limit: number): StoredEntry[] {
    return this.#stmt.entriesAfter.all(info.id, seq, limit)
  }

  /** Up to `limit` entries whose global position is after `gpos`, in order. */
  entriesAfterGpos(info: StreamInfo, gpos: number, limit: number): StoredEntry[] {
    return this.#stmt.entriesAfter.all(info.id, this.seqAtGpos(info, gpos), limit)
  }

  /** The last seq of the stream whose entry's global position is at most `gpos` (0 if none). */
  seqAtGpos(info: StreamInfo, gpos: number): number {
    // Within a stream gpos grows with seq: a binary search over the primary key (about 20 lookups
    // for a million entries).
    let lo = 0
    let hi = this.#stmt.lastSeq.get(info.id)?.seq ?? 0
    while (lo < hi) {
      const mid = lo + Math.ceil((hi - lo) / 2)
      if ((this.#stmt.gposAt.get(info.id, mid)?.gpos ?? Number.POSITIVE_INFINITY) <= gpos) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** The snapshots taken after entry `afterSeq` up to entry `uptoSeq` (the bounds a live catch-up replays). */
  snapshotsBetween(info: StreamInfo, afterSeq: number, uptoSeq: number): Bound[] {
    return this.#stmt.snapshotsBetween.all(info.id, afterSeq, uptoSeq)
  }

  /** The head state of a state stream. */
  headState(name: string): { seq: number; ts: number; state: Json } {
    const record = this.#stateRecord(name)
    return { seq: record.headSeq, ts: record.headTs, state: this.#headState(record) }
  }

  /** Resolves once every write queued so far has committed or failed. */
  drain(): Promise<void> {
    return this.#queue.drain()
  }

  /** Finishes queued writes, then closes the database. Later writes fail with `SHUTTING_DOWN`. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#touches.close()
    // The last commit writes the touches still in memory.
    if (this.#touches.dirty) this.#queue.push(() => ({ result: undefined })).catch(() => {})
    await this.#queue.drain()
    this.#listeners.clear()
    // The worker's connection first: the last one to close checkpoints and removes the WAL.
    await this.#checkpointer?.close()
    this.#db.close()
  }

  #write<T>(run: () => JobOutcome<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StateStreamError(ErrorCode.SHUTTING_DOWN, 'the store is closed'))
    return this.#queue.push(run)
  }

  #purge(id: number, name: string): void {
    this.#stmt.deleteEntries.run(id)
    this.#stmt.deleteSnapshots.run(id)
    this.#stmt.deleteProducers.run(id)
    this.#stmt.deleteStream.run(id)
    this.#records.delete(name)
    this.#heads.delete(id)
    this.#touches.forget(id)
  }

  #emit(event: StoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch {
        // A faulty reader must not stop the others from hearing about the commit.
      }
    }
  }

  #find(name: string): StreamRecord | undefined {
    let record = this.#records.get(name)
    if (record !== undefined) {
      // Refresh its place in the LRU order.
      this.#records.delete(name)
      this.#records.set(name, record)
    } else {
      const row = this.#stmt.streamByName.get(name)
      if (row === undefined) return undefined
      record = this.#load(row)
      this.#remember(record)
    }
    if (isExpired(record, this.#now())) return undefined
    return record
  }

  #record(name: string): StreamRecord {
    const record = this.#find(name)
    if (record === undefined) throw new StateStreamError(ErrorCode.STREAM_NOT_FOUND, `no stream "${name}"`)
    return record
  }

  #stateRecord(name: string): StreamRecord {
    const record = this.#record(name)
    if (record.kind !== 'state') {
      throw new StateStreamError(ErrorCode.NOT_A_STATE_STREAM, `"${name}" is not a state stream`)
    }
    return record
  }

  #remember(record: StreamRecord): void {
    this.#records.delete(record.name)
    this.#records.set(record.name, record)
    if (this.#records.size > this.#cacheSize) {
      const oldest = this.#records.keys().next().value
      if (oldest !== undefined) this.#records.delete(oldest)
    }
  }

  #load(row: StreamRow): StreamRecord {
    const last = this.#stmt.lastSnapshot.get(row.id)
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
      touchedTs: this.#touches.pending(row.id) ?? row.touched_ts ?? row.created_ts,
      policy: { entries: row.snap_entries, bytes: row.snap_bytes, ms: row.snap_ms },
      lastStreamSeq: row.last_stream_seq,
      lastSnapshot: last
        ? { seq: last.seq, ts: last.ts, cumBytes: last.cum_bytes }
        : { seq: 0, ts: row.created_ts, cumBytes: 0 },
    }
  }

  /** The head state, rebuilt from the last snapshot and the entries after it when not cached. */
  #headState(record: StreamRecord): Json {
    return this.#head(record).state
  }

  #head(record: StreamRecord): HeadState {
    const held = this.#heads.get(record.id)
    if (held !== undefined) return held
    const { seq } = record.lastSnapshot
    const row = this.#stmt.snapshotState.get(record.id, seq)
    const text = row?.state ?? '{}'
    let bytes = text.length
    const entries = this.#stmt.entriesAfter.iterate(record.id, seq, Number.MAX_SAFE_INTEGER)
    const state = applySequence(JSON.parse(text) as Json, (function* () {
      for (const entry of entries) {
        bytes += entry.data.length
        yield JSON.parse(entry.data as string) as Mutation
      }
    })())
    this.#heads.set(record.id, state, bytes)
    return { state, bytes }
  }

  /**
   * Validates and stores a request body as entries of `record`, taking snapshots by its policy.
   * Changes nothing in memory until `apply` is called (the savepoint may still roll back).
   */
  #appendBody(record: StreamRecord, body: Buffer, creating: boolean, streamSeq?: string, fromRequest = true) {
    const now = this.#now()
    let seq = record.headSeq
    let ts = record.headTs
    let total = record.totalBytes
    let gpos = this.#gpos
    let lastSnapshot = record.lastSnapshot
    const head = record.kind === 'state' ? this.#head(record) : undefined
    let state: Json | undefined = head?.state
    let stateBytes = head?.bytes ?? 0
    const entries: StoredEntry[] = []
    const snapshots: Bound[] = []
    // An ASCII body without `\u` escapes parses to ASCII strings only, and JSON.stringify writes
    // ASCII for them: each stored text is then as many bytes as characters, with no count needed.
    const asciiText = isAscii(body) && !body.includes('\\u')
    const store = (data: string | Buffer, entryTs: number): void => {
      seq += 1
      gpos += 1
      ts = entryTs
      const size = typeof data === 'string' && !asciiText ? Buffer.byteLength(data) : data.length
      total += size
      stateBytes += size
      entries.push({ seq, ts, gpos, data })
    }

    if (mediaType(record.contentType) !== 'application/json') {
      if (body.length === 0) throw new StateStreamError(ErrorCode.EMPTY_BODY, 'an append needs a non-empty body')
      store(body, Math.max(now, ts))
    } else {
      const text = body.toString('utf8')
      const parsed = fromRequest ? parseJson(text) : (JSON.parse(text) as Json)
      const messages = splitMessages(parsed)
      // Each message's own text, where storing it is the same as serializing it again.
      const texts = Array.isArray(parsed) ? elementTexts(text, messages.length) : undefined
      if (messages.length === 0 && !creating) {
        throw new StateStreamError(ErrorCode.EMPTY_BODY, 'an append of an empty JSON array stores nothing')
      }
      // One sequence: the containers a batch creates are updated in place by its later messages;
      // the head state it started from is never changed, so a refused batch leaves it intact.
      inSequence(() => messages.forEach((value, index) => {
        if (state === undefined) {
          store(texts?.[index] ?? JSON.stringify(value), Math.max(now, ts))
          return
        }
        const message = validateMessage(value, index)
        if (message.ts !== undefined && message.ts < ts) {
          throw new StateStreamError(
            ErrorCode.TS_REGRESSION,
            `message ${index}: ts ${message.ts} is earlier than the stream's last ts ${ts}`,
          )
        }
        const mutation = mutationOf(message)
        try {
          // No state deeper than the limit is ever made: everything that reads it stays safe.
          state = apply(state, mutation, MAX_JSON_DEPTH)
        } catch (error) {
          if (error instanceof StateStreamError) {
            throw new StateStreamError(error.code, `message ${index}: ${error.message}`, { cause: error })
          }
          throw error
        }
        const own = mutation === value ? texts?.[index] : undefined
        store(own ?? JSON.stringify(mutation), message.ts ?? Math.max(now, ts))
        if (
          seq - lastSnapshot.seq >= record.policy.entries ||
          total - lastSnapshot.cumBytes >= record.policy.bytes ||
          ts - lastSnapshot.ts >= record.policy.ms
        ) {
          // A state stored before the depth limit existed may be deeper than JSON.stringify goes.
          const snapshot = stringifyJson(state)
          this.#stmt.insertSnapshot.run(record.id, seq, ts, total, snapshot)
          stateBytes = snapshot.length
          lastSnapshot = { seq, ts, cumBytes: total }
          snapshots.push({ seq, ts })
        }
      }))
    }
    this.#entries.insert(record.id, entries)
    const lastStreamSeq = streamSeq ?? record.lastStreamSeq
    this.#stmt.updateHead.run(seq, ts, total, lastStreamSeq, now, record.id)
    return {
      headSeq: seq,
      headTs: ts,
      apply: () => {
        record.headSeq = seq
        record.headTs = ts
        record.totalBytes = total
        record.lastSnapshot = lastSnapshot
        record.lastStreamSeq = lastStreamSeq
        record.touchedTs = now
        if (state !== undefined) this.#heads.set(record.id, state, stateBytes)
        this.#gpos = gpos
      },
      afterCommit: () => {
        if (entries.length > 0) this.#emit({ type: 'append', stream: record, entries, snapshots })
      },
    }
  }
}

function sameConfig(info: StreamInfo, request: CreateStream): boolean {
  return (
    mediaType(info.contentType) === mediaType(request.contentType) &&
    info.kind === request.kind &&
    info.ttlSeconds === (request.ttlSeconds ?? null) &&
    info.expiresAt === (request.expiresAt ?? null)
  )
}

function isExpired(info: StreamInfo, now: number): boolean {
  if (info.expiresAt !== null && now >= info.expiresAt) return true
  return info.ttlSeconds !== null && now >= info.touchedTs + info.ttlSeconds * 1000
}
