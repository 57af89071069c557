/**
 * The store of streams: their logs, snapshots and idempotent producers in SQLite. All writes go
 * through the group-commit queue; reads run directly (better-sqlite3 is synchronous, so a read
 * never sees a write half done). Each stream's metadata and, for state streams, its head state
 * are cached in memory (LRU), write-through.
 *
 * Every write is decided by pure planners (`append-plan.ts`, `stream-config.ts`,
 * `fork-point.ts`) and persisted by `StreamRows`; this class sequences them, keeps the cache and
 * tells readers after each commit.
 *
 * Streams live and die as `stream-catalog.ts` says: a deleted or expired stream that living forks
 * read through is kept for them (410 to its own readers); once none needs it, its rows are purged —
 * at once when its last fork is deleted, else in a write queued by the next lookup that finds it —
 * and the purge cascades up its sources.
 */
import type Database from 'better-sqlite3'
import { DEFAULT_SNAPSHOT_POLICY, ErrorCode, StateStreamError, diff, quote, stringifyJson } from '@statestream/common'
import type { Json, SnapshotPolicy } from '@statestream/common'
import { planAppend, planBytes, planClose } from './append-plan.ts'
import type { AppendPlan, StreamHead } from './append-plan.ts'
import { Checkpointer, DEFAULT_CHECKPOINT_MS } from './checkpointer.ts'
import { openDatabase } from './db.ts'
import { lockStoreFile, openFailure } from './store-file.ts'
import type { Durability } from './db.ts'
import { checkForkOf, forkStart, resolveForkPoint } from './fork-point.ts'
import type { ResolvedForkPoint } from './fork-point.ts'
import { DEFAULT_STATE_CACHE_BYTES } from './head-states.ts'
import { HistoryReader } from './history-reader.ts'
import { isJsonStream } from './log-format.ts'
import { LogReader } from './log-reader.ts'
import { fenceClosed, fenceProducer } from './producer-fence.ts'
import { checkConfig, closedError, creationTime, requestedConfig, sameConfig } from './stream-config.ts'
import type { StreamConfig } from './stream-config.ts'
import { StreamCatalog } from './stream-catalog.ts'
import { StreamList } from './stream-list.ts'
import type { Lookup } from './stream-catalog.ts'
import { StreamRows } from './stream-rows.ts'
import { mediaType } from './stream-types.ts'
import type {
  AppendRequest,
  AppendResult,
  CreateStream,
  ForkRequest,
  StoreEvent,
  StoredEntry,
  StreamInfo,
  StreamRecord,
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
  readonly #unlock: () => void
  readonly #checkpointer: Checkpointer | undefined
  readonly #queue: WriteQueue
  readonly #rows: StreamRows
  readonly #log: LogReader
  readonly #now: () => number
  readonly #policy: SnapshotPolicy
  readonly #catalog: StreamCatalog
  readonly #touches: TtlTouches
  readonly #listeners = new Set<(event: StoreEvent) => void>()
  readonly #commitListeners = new Set<(writes: number, ms: number) => void>()
  /** Ids of dead streams whose purge is queued. */
  readonly #collecting = new Set<number>()
  /** Reads history (windows, states) from snapshots and the log. */
  readonly history: HistoryReader
  /** Lists the streams, a page at a time. */
  readonly list: StreamList
  #gpos: number
  #closed = false

  constructor(options: StreamStoreOptions = {}) {
    const file = options.file ?? ':memory:'
    // A file is locked before it is opened (see store-file.ts): a second server writes nothing.
    this.#unlock = file === ':memory:' || file === '' ? () => {} : lockStoreFile(file)
    try {
      this.#db = openDatabase(file, options.durability)
    } catch (error) {
      this.#unlock()
      throw openFailure(file, error)
    }
    const checkpointMs = options.checkpointMs ?? DEFAULT_CHECKPOINT_MS
    if (checkpointMs > 0 && file !== '' && !this.#db.memory) this.#checkpointer = new Checkpointer(file, options.durability ?? 'normal', checkpointMs)
    this.#now = options.now ?? Date.now
    this.#policy = { ...DEFAULT_SNAPSHOT_POLICY, ...options.snapshotPolicy }
    this.#rows = new StreamRows(this.#db)
    this.#log = new LogReader(this.#db)
    this.#touches = new TtlTouches(this.#db, () => {
      if (!this.#closed) this.#write(() => ({ result: undefined })).catch(() => {})
    })
    this.#catalog = new StreamCatalog(
      this.#rows,
      this.#log,
      this.#now,
      options.cacheSize ?? 10_000,
      options.stateCacheBytes ?? DEFAULT_STATE_CACHE_BYTES,
      this.#touches,
    )
    this.#gpos = this.#rows.loadGpos()
    this.#queue = new WriteQueue(
      this.#db,
      () => {
        this.#touches.write()
        this.#rows.saveGpos(this.#gpos)
      },
      () => {
        // The commit failed: memory may be ahead of the file, so forget it and reload.
        this.#catalog.clear()
        this.#gpos = this.#rows.loadGpos()
      },
      (writes, ms) => {
        // The checkpoint worker sleeps until there is something to copy.
        this.#checkpointer?.committed()
        for (const listener of this.#commitListeners) listener(writes, ms)
      },
    )
    this.history = new HistoryReader(this.#log, (name) => this.get(name))
    this.list = new StreamList(this.#db, (name) => this.find(name))
  }

  /** The server-wide global position: entries appended to all streams so far. */
  get gpos(): number {
    return this.#gpos
  }

  /** The clock the store stamps entries with. */
  now(): number {
    return this.#now()
  }

  /** Calls `listener` after every committed append, close or delete. Returns the unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Calls `listener` after every group commit: the writes it carried and how long it took, in ms. */
  onCommit(listener: (writes: number, ms: number) => void): () => void {
    this.#commitListeners.add(listener)
    return () => this.#commitListeners.delete(listener)
  }

  /** Throws unless the database answers a query: it is open and readable (the `/ready` probe). */
  ping(): void {
    this.#rows.loadGpos()
  }

  /**
   * A stream's metadata; throws `STREAM_NOT_FOUND` when it does not exist (or has expired), and
   * `STREAM_DELETED` (410) for one deleted or expired that forks still read through.
   */
  get(name: string): StreamInfo {
    return this.#live(name)
  }

  /** A living stream's metadata, or `undefined`. */
  find(name: string): StreamInfo | undefined {
    const found = this.#lookup(name)
    return found.status === 'live' ? found.record : undefined
  }

  /**
   * Records a read of a `Stream-TTL` stream: its sliding expiry starts again from now (Durable
   * Streams §5.1; a write does this by itself). Does nothing for other streams. Call it once the
   * read is known to be valid. It writes nothing itself: the next group commit does. A read of a
   * fork touches the fork alone, never the sources it reads through.
   */
  touch(name: string): void {
    const record = this.find(name) as StreamRecord | undefined
    if (record === undefined || record.ttlSeconds === null || this.#closed) return
    const now = this.#now()
    record.touchedTs = now
    this.#touches.touch(record.id, now)
  }

  /** Estimated bytes of head states held in memory, and how many (for metrics and tests). */
  get stateCache(): { bytes: number; streams: number } {
    return this.#catalog.stateCache
  }

  /**
   * Creates a stream (or a fork of one), or confirms that one with the same configuration exists
   * (`created: false`); a different configuration is `STREAM_CONFLICT`.
   */
  create(request: CreateStream): Promise<{ created: boolean; info: StreamInfo }> {
    return this.#write<{ created: boolean; info: StreamInfo }>(() => {
      const existing = this.#lookup(request.name)
      if (existing.status === 'live') {
        if (!sameConfig(existing.record, this.#existingConfig(request))) {
          throw new StateStreamError(ErrorCode.STREAM_CONFLICT, `stream "${request.name}" already exists with a different configuration`)
        }
        return { result: { created: false, info: existing.record } }
      }
      if (existing.status === 'gone') {
        throw new StateStreamError(ErrorCode.STREAM_CONFLICT, `stream "${request.name}" was deleted, and is kept while forks of it read through it`)
      }
      // An expired stream may still have rows; it is gone for readers, so its name is free again.
      const stale = this.#rows.byName(request.name)
      if (stale !== undefined) this.#catalog.collect(stale.id)
      return request.fork === undefined ? this.#createNew(request) : this.#createFork(request, request.fork)
    })
  }

  /**
   * Appends a request's messages atomically (all or nothing), and closes the stream with them
   * when asked. A closed stream refuses appends (`STREAM_CLOSED`), except an idempotent producer's
   * retry of one it stored and a repeated close, which succeed as duplicates.
   */
  append(request: AppendRequest): Promise<AppendResult> {
    return this.#write<AppendResult>(() => {
      const record = this.#live(request.name)
      const producer = request.producer
      const closeOnly = request.closed === true && request.body.length === 0
      const done = (status: AppendResult['status'], echo?: { epoch: number; seq: number }): JobOutcome<AppendResult> => ({
        result: { status, headSeq: record.headSeq, headTs: record.headTs, closed: record.closed, ...(echo && { producer: echo }) },
      })
      if (record.closed) {
        // Checked first (Durable Streams §5.2): a writer learns of the closure before anything else.
        const duplicate = producer && fenceClosed(this.#rows.producer(record.id, producer.id), producer)
        if (duplicate) return done('duplicate', duplicate)
        if (closeOnly) return done('duplicate')
        throw closedError(record)
      }
      if (!closeOnly && mediaType(request.contentType ?? '') !== mediaType(record.contentType)) {
        throw new StateStreamError(
          ErrorCode.CONTENT_TYPE_MISMATCH,
          `the stream's content type is ${quote(record.contentType)}, the request's is ${request.contentType === undefined ? 'missing' : quote(request.contentType)}`,
        )
      }
      if (producer !== undefined) {
        const duplicate = fenceProducer(this.#rows.producer(record.id, producer.id), producer)
        if (duplicate !== undefined) return done('duplicate', duplicate)
      }
      if (request.streamSeq !== undefined && record.lastStreamSeq !== null && request.streamSeq <= record.lastStreamSeq) {
        throw new StateStreamError(
          ErrorCode.STREAM_SEQ_REGRESSION,
          `Stream-Seq ${quote(request.streamSeq)} is not greater than the last one, ${quote(record.lastStreamSeq)}`,
        )
      }
      const start = this.#head(record)
      const plans = closeOnly ? [] : [this.#plan(start, request.body, false)]
      const written = this.#persist(record, start, plans, request.closed === true, request.streamSeq)
      if (producer !== undefined) this.#rows.upsertProducer(record.id, producer.id, producer.epoch, producer.seq)
      return {
        result: {
          status: 'appended',
          headSeq: written.head.seq,
          headTs: written.head.ts,
          closed: written.closed,
          ...(producer && { producer: { epoch: producer.epoch, seq: producer.seq } }),
        },
        apply: written.apply,
        afterCommit: written.afterCommit,
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
      if (record.closed) throw closedError(record)
      const ops = diff(this.#catalog.head(record).state, state)
      if (ops.length === 0) return { result: { stored: false, seq: record.headSeq, ts: record.headTs } }
      const patch = stringifyJson({ patch: ops })
      const set = stringifyJson({ set: state })
      const body = Buffer.from(patch.length <= set.length ? patch : set)
      // Our own body: `state` was checked at the boundary, and its wrapper adds a level or three.
      const start = this.#head(record)
      const plan = planAppend(start, body, { now: this.#now(), gpos: this.#gpos, creating: false, trusted: true })
      const written = this.#persist(record, start, [plan], false)
      return {
        result: { stored: true, seq: written.head.seq, ts: written.head.ts },
        apply: written.apply,
        afterCommit: written.afterCommit,
      }
    })
  }

  /**
   * Deletes a stream. One that forks still read through is only marked deleted (it answers 410,
   * and its name stays taken) until the last of them goes; otherwise its rows go at once, and so
   * do those of any deleted source it kept alive.
   */
  delete(name: string): Promise<void> {
    return this.#write(() => {
      const record = this.#live(name)
      if (this.#catalog.retained(record.id)) this.#rows.softDelete(record.id)
      else this.#catalog.collect(record.id, true)
      return {
        result: undefined,
        apply: () => {
          record.deleted = true
          this.#catalog.forget(name)
        },
        afterCommit: () => this.#emit({ type: 'delete', stream: record }),
      }
    })
  }

  /** Up to `limit` entries after `seq`, in order (inherited ones included). */
  entriesAfter(info: StreamInfo, seq: number, limit: number): StoredEntry[] {
    return this.#log.entriesAfter(info.segments, seq, limit)
  }

  /** Up to `limit` entries whose global position is after `gpos`, in order. */
  entriesAfterGpos(info: StreamInfo, gpos: number, limit: number): StoredEntry[] {
    return this.entriesAfter(info, this.seqAtGpos(info, gpos), limit)
  }

  /** The last seq of the stream whose entry's global position is at most `gpos` (0 if none). */
  seqAtGpos(info: StreamInfo, gpos: number): number {
    // Along a log gpos grows with seq (a fork's own entries come after everything it inherits).
    return this.#log.lastSeqWhere(info.segments, info.headSeq, (entry) => entry.gpos <= gpos)
  }

  /** The snapshots taken after entry `afterSeq` up to entry `uptoSeq` (the bounds a live catch-up replays). */
  snapshotsBetween(info: StreamInfo, afterSeq: number, uptoSeq: number) {
    return this.#log.snapshotsBetween(info.segments, afterSeq, uptoSeq)
  }

  /** The head state of a state stream. */
  headState(name: string): { seq: number; ts: number; state: Json } {
    const record = this.#stateRecord(name)
    return { seq: record.headSeq, ts: record.headTs, state: this.#catalog.head(record).state }
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
    this.#unlock()
  }

  #write<T>(run: () => JobOutcome<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StateStreamError(ErrorCode.SHUTTING_DOWN, 'the store is closed'))
    return this.#queue.push(run)
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

  // ---- creating ----

  #createNew(request: CreateStream): JobOutcome<{ created: boolean; info: StreamInfo }> {
    const now = creationTime(request, this.#now())
    const config = checkConfig(requestedConfig(request, this.#policy), request)
    const record = this.#catalog.insert(config, request.name, {
      createdTs: now,
      headSeq: 0,
      headTs: now,
      totalBytes: 0,
      lastSnapshot: { seq: 0, ts: now, cumBytes: 0 },
      fork: null,
    })
    if (record.kind === 'state') {
      // S0: the initial state `{}` at seq 0, so every window starts from a stored snapshot.
      this.#rows.insertSnapshot(record.id, { seq: 0, ts: now, cumBytes: 0, state: '{}' })
    }
    return this.#fill(record, [], request)
  }

  #createFork(request: CreateStream, fork: ForkRequest): JobOutcome<{ created: boolean; info: StreamInfo }> {
    if (request.createdAt !== undefined) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, "a fork's history begins where its source's does: it takes no Stream-Created-At")
    }
    const found = this.#lookup(fork.source)
    if (found.status === 'absent') throw new StateStreamError(ErrorCode.STREAM_NOT_FOUND, `no stream "${fork.source}" to fork`)
    if (found.status === 'gone') {
      throw new StateStreamError(ErrorCode.STREAM_CONFLICT, `stream "${fork.source}" was deleted: it cannot be forked`)
    }
    const source = found.record
    checkForkOf(source, request)
    const point = resolveForkPoint(this.#log, source, fork)
    const config = checkConfig(requestedConfig(request, this.#policy, { source }), request)
    const record = this.#catalog.insert(config, request.name, forkStart(this.#log, source, point))
    const prefix = point.prefix && planBytes(this.#head(record, false), point.prefix.data, point.prefix.ts, this.#gpos)
    return this.#fill(record, prefix ? [prefix] : [], request)
  }

  /** Stores a new stream's first content (after `plans`, a fork's copied prefix) and closes it if asked. */
  #fill(record: StreamRecord, plans: AppendPlan[], request: CreateStream): JobOutcome<{ created: boolean; info: StreamInfo }> {
    const body = request.body
    // A new stream's head is not held until its creation commits: its id may yet be rolled back.
    // And its state is only made if this request needs it: a fork's, at its first append.
    const start = this.#head(record, false, (body !== undefined && body.length > 0) || request.closed === true)
    if (body !== undefined && body.length > 0) {
      const last = plans[plans.length - 1]
      plans.push(this.#plan(last?.head ?? start, body, true, last?.gpos))
    }
    const written = this.#persist(record, start, plans, request.closed === true)
    return {
      result: { created: true, info: record },
      apply: () => {
        written.apply()
        this.#catalog.remember(record)
      },
      afterCommit: written.afterCommit,
    }
  }

  /** The configuration `request` asks of an existing stream (its fork point resolved if it names one). */
  #existingConfig(request: CreateStream): StreamConfig {
    const fork = request.fork
    if (fork === undefined) return requestedConfig(request, this.#policy)
    const row = this.#rows.byName(fork.source)
    // A source that is no more cannot be the one the existing fork was made from.
    if (row === undefined) return { ...requestedConfig(request, this.#policy), fork: { sourceId: -1 } }
    const source = this.#catalog.recordOf(row)
    const named = fork.offset !== undefined || fork.at !== undefined || fork.subOffset !== undefined
    const point: ResolvedForkPoint | undefined = named ? resolveForkPoint(this.#log, source, fork) : undefined
    return requestedConfig(request, this.#policy, {
      source,
      ...(point && { point: { seq: point.seq, prefix: point.prefix?.data.length ?? 0 } }),
    })
  }

  // ---- appending ----

  /**
   * The head a plan starts from; `hold`: keep a rebuilt state in the head-state cache; `withState`:
   * a state stream's state is in it (a plan of its entries needs it).
   */
  #head(record: StreamRecord, hold = true, withState = true): StreamHead {
    const head: StreamHead = {
      kind: record.kind,
      json: isJsonStream(record),
      seq: record.headSeq,
      ts: record.headTs,
      totalBytes: record.totalBytes,
      lastSnapshot: record.lastSnapshot,
      policy: record.policy,
    }
    if (record.kind === 'state' && withState) {
      const held = this.#catalog.head(record, hold)
      head.state = held.state
      head.stateBytes = held.bytes
    }
    return head
  }

  #plan(from: StreamHead, body: Buffer, creating: boolean, gpos?: number): AppendPlan {
    return planAppend(from, body, { now: this.#now(), gpos: gpos ?? this.#gpos, creating })
  }

  /**
   * Persists `plans` (consecutive, each from the previous one's head) and, when `close`, the
   * closure. Memory changes wait for `apply` (the savepoint may still roll back); readers hear of
   * it in `afterCommit`.
   */
  #persist(record: StreamRecord, start: StreamHead, plans: AppendPlan[], close: boolean, streamSeq?: string) {
    const now = this.#now()
    const lastStreamSeq = streamSeq ?? record.lastStreamSeq
    let head = start
    let gpos = this.#gpos
    const entries: StoredEntry[] = []
    const snapshots: Array<{ seq: number; ts: number }> = []
    for (const plan of plans) {
      this.#rows.persist(record.id, plan, lastStreamSeq, now)
      entries.push(...plan.entries)
      snapshots.push(...plan.snapshots.map(({ seq, ts }) => ({ seq, ts })))
      head = plan.head
      gpos = plan.gpos
    }
    const closing = close ? planClose(head) : undefined
    if (closing !== undefined) {
      this.#rows.insertSnapshot(record.id, closing)
      snapshots.push({ seq: closing.seq, ts: closing.ts })
      head = { ...head, lastSnapshot: { seq: closing.seq, ts: closing.ts, cumBytes: closing.cumBytes } }
    }
    if (close) this.#rows.close(record.id, now)
    const final = head
    return {
      head: final,
      closed: close || record.closed,
      apply: () => {
        record.headSeq = final.seq
        record.headTs = final.ts
        record.totalBytes = final.totalBytes
        record.lastSnapshot = final.lastSnapshot
        record.lastStreamSeq = lastStreamSeq
        record.touchedTs = now
        if (final.state !== undefined) this.#catalog.setHead(record.id, final.state, final.stateBytes ?? 0)
        if (close) record.closed = true
        this.#gpos = gpos
      },
      afterCommit: () => {
        if (entries.length > 0) this.#emit({ type: 'append', stream: record, entries, snapshots })
        if (close) this.#emit({ type: 'close', stream: record, bound: { seq: final.seq, ts: final.ts } })
      },
    }
  }

  // ---- finding ----

  #lookup(name: string): Lookup {
    const found = this.#catalog.lookup(name)
    if (found.status === 'absent' && found.collectable !== undefined) this.#scheduleCollect(found.collectable)
    return found
  }

  #live(name: string): StreamRecord {
    const found = this.#lookup(name)
    if (found.status === 'live') return found.record
    if (found.status === 'gone') {
      throw new StateStreamError(ErrorCode.STREAM_DELETED, `stream "${name}" was deleted (it is kept only for the forks that read through it)`)
    }
    throw new StateStreamError(ErrorCode.STREAM_NOT_FOUND, `no stream "${name}"`)
  }

  #stateRecord(name: string): StreamRecord {
    const record = this.#live(name)
    if (record.kind !== 'state') {
      throw new StateStreamError(ErrorCode.NOT_A_STATE_STREAM, `"${name}" is not a state stream`)
    }
    return record
  }

  /** Queues the purge of dead stream `id` (a lookup found it collectable). */
  #scheduleCollect(id: number): void {
    if (this.#closed || this.#collecting.has(id)) return
    this.#collecting.add(id)
    this.#write(() => {
      this.#collecting.delete(id)
      this.#catalog.collect(id)
      return { result: undefined }
    }).catch(() => {})
  }
}
