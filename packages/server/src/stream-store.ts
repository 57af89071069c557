/**
 * The store of streams: their logs, snapshots and idempotent producers, on a storage engine
 * (`storage-engine.ts`): SQLite (one process, the default) or PostgreSQL (replicas sharing one
 * database). All writes go through the engine's group commit; reads are operations the engine
 * runs (`read`), so that one operation's reads agree (SQLite: synchronous; PostgreSQL: see
 * `postgres/pending-reads.ts`). Each stream's metadata and, for state streams, its head state are
 * cached in memory (LRU), write-through; on a shared engine only what cannot change stays cached.
 *
 * Every write is decided by pure planners (`append-plan.ts`, `stream-config.ts`,
 * `fork-point.ts`) and persisted through the engine's rows; this class sequences them, keeps the
 * cache and tells readers after each commit — its own commits on SQLite, every replica's (from
 * the engine's feed, in commit order) on PostgreSQL.
 *
 * Streams live and die as `stream-catalog.ts` says: a deleted or expired stream that living forks
 * read through is kept for them (410 to its own readers); once none needs it, its rows are purged —
 * at once when its last fork is deleted, else in a write queued by the next lookup that finds it —
 * and the purge cascades up its sources.
 */
import { DEFAULT_SNAPSHOT_POLICY, ErrorCode, StateStreamError, diff, encodeOffset, quote, stringifyJson } from '@statestream/common'
import type { Json, SnapshotPolicy, StateAt } from '@statestream/common'
import { planAppend, planBytes, planClose } from './append-plan.ts'
import type { AppendPlan, StreamHead } from './append-plan.ts'
import { committedEvents } from './committed-events.ts'
import type { Durability } from './db.ts'
import { resolveForkPoint } from './fork-point.ts'
import type { ResolvedForkPoint } from './fork-point.ts'
import { DEFAULT_STATE_CACHE_BYTES } from './head-states.ts'
import { HistoryReader } from './history-reader.ts'
import { DEFAULT_CHECKPOINT_BYTES } from './window-checkpoints.ts'
import type { WindowAnswer, WindowPoint } from './history-reader.ts'
import { isJsonStream } from './log-format.ts'
import type { LogReader } from './log-reader.ts'
import { PostgresEngine } from './postgres/pg-engine.ts'
import type { PostgresOptions } from './postgres/pg-options.ts'
import { fenceProducer } from './producer-fence.ts'
import { SqliteEngine } from './sqlite-engine.ts'
import type { CommittedItem, EngineLogger, JobHints, ReadOptions, RowStore, StorageEngine } from './storage-engine.ts'
import { StoreView } from './store-view.ts'
import { StreamWrites, liveRecord, stateRecord } from './stream-writes.ts'
import { checkConfig, requestedConfig, sameConfig } from './stream-config.ts'
import type { StreamConfig } from './stream-config.ts'
import { StreamCatalog } from './stream-catalog.ts'
import { StreamList } from './stream-list.ts'
import type { StreamPage } from './stream-list.ts'
import type { Lookup } from './stream-catalog.ts'
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
import type { JobOutcome } from './write-queue.ts'

/** Options of a `StreamStore`. */
export interface StreamStoreOptions {
  /** SQLite file; `:memory:` (the default) keeps everything in memory. */
  file?: string
  /**
   * A PostgreSQL database instead of an SQLite file: several servers on one database serve the
   * same streams (see the README, "Replicas"). Opened with `StreamStore.open`.
   */
  postgres?: PostgresOptions
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
   * Budget of the states kept inside closed windows for the state at a time or seq, in bytes of
   * JSON text (estimated; see `window-checkpoints.ts`); 0 keeps none. Default 64 MiB.
   */
  checkpointBytes?: number
  /**
   * Time between two WAL checkpoints by a worker thread, ms (see `Checkpointer`); 0 leaves them
   * all to the writer. Default 20. Only for a file: an in-memory database has no WAL.
   */
  checkpointMs?: number
  /** Where the store reports failures no request sees (a lost database connection). Default: none. */
  log?: EngineLogger
}

export class StreamStore {
  readonly #engine: StorageEngine
  readonly #rows: RowStore
  readonly #log: LogReader
  readonly #now: () => number
  readonly #policy: SnapshotPolicy
  readonly #catalog: StreamCatalog
  readonly #touches: TtlTouches
  readonly #history: HistoryReader
  readonly #view: StoreView
  readonly #writes: StreamWrites
  /** On a shared engine: the last gpos the feed's events have told readers (see `gpos`). */
  #told = 0
  readonly #list: StreamList
  readonly #listeners = new Set<(event: StoreEvent) => void>()
  readonly #commitListeners = new Set<(writes: number, ms: number) => void>()
  /** Ids of dead streams whose purge is queued. */
  readonly #collecting = new Set<number>()
  readonly #started: Promise<void>
  #closed = false

  /**
   * A store on an SQLite file (or in memory). A store on PostgreSQL is opened with
   * `StreamStore.open`, which waits for its connection and migrations.
   */
  constructor(options: StreamStoreOptions = {}, engine?: StorageEngine) {
    if (engine === undefined && options.postgres !== undefined) {
      throw new Error('a PostgreSQL store is opened with `await StreamStore.open(options)`')
    }
    const stateCacheBytes = options.stateCacheBytes ?? DEFAULT_STATE_CACHE_BYTES
    this.#engine =
      engine ??
      new SqliteEngine({
        file: options.file ?? ':memory:',
        stateCacheBytes,
        ...(options.durability !== undefined && { durability: options.durability }),
        ...(options.checkpointMs !== undefined && { checkpointMs: options.checkpointMs }),
      })
    this.#now = options.now ?? Date.now
    this.#policy = { ...DEFAULT_SNAPSHOT_POLICY, ...options.snapshotPolicy }
    this.#rows = this.#engine.rows
    this.#log = this.#engine.log
    this.#touches = new TtlTouches(
      (id, ts) => this.#rows.touch(id, ts),
      () => {
        if (!this.#closed) this.#write(() => ({ result: undefined })).catch(() => {})
      },
    )
    this.#catalog = new StreamCatalog(
      this.#rows,
      this.#log,
      this.#now,
      options.cacheSize ?? 10_000,
      this.#engine.heads,
      this.#touches,
      this.#engine.shared,
    )
    this.#writes = new StreamWrites({
      rows: this.#rows,
      log: this.#log,
      catalog: this.#catalog,
      policy: this.#policy,
      now: this.#now,
      lookup: (name) => this.#lookup(name),
    })
    if (!this.#engine.shared) this.#writes.gpos = this.#rows.loadGpos()
    this.#history = new HistoryReader(this.#log, (name) => this.#live(name), options.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES, () => this.#catalog.epoch)
    this.#view = new StoreView({
      live: (name) => this.#live(name),
      find: (name) => this.#find(name),
      stateRecord: (name) => this.#stateRecord(name),
      head: (record) => this.#catalog.head(record),
      gpos: () => (this.#engine.shared ? this.#rows.loadGpos() : this.#writes.gpos),
      parts: (key, items, compute) => this.#engine.parts(key, items, compute),
      log: this.#log,
      history: this.#history,
    })
    this.#list = new StreamList(this.#rows, (name) => this.#find(name))
    this.#started = this.#engine.start({
      begin: (gpos) => {
        this.#writes.gpos = gpos
      },
      beforeCommit: () => {
        this.#touches.write()
        this.#rows.saveGpos(this.#writes.gpos)
      },
      onAbort: () => {
        // The commit failed: memory may be ahead of the database, so forget it and reload.
        this.#catalog.clear()
        if (!this.#engine.shared) this.#writes.gpos = this.#rows.loadGpos()
      },
      onCommit: (writes, ms) => {
        for (const listener of this.#commitListeners) listener(writes, ms)
      },
      deliver: (items) => this.#deliver(items),
    })
  }

  /** Opens a store on the engine `options` name (PostgreSQL with `postgres`, else SQLite). */
  static async open(options: StreamStoreOptions = {}): Promise<StreamStore> {
    const engine = options.postgres === undefined ? undefined : await PostgresEngine.open(options.postgres, options.stateCacheBytes ?? DEFAULT_STATE_CACHE_BYTES, options.log)
    const store = new StreamStore(options, engine)
    try {
      await store.#started
    } catch (error) {
      await store.close().catch(() => {})
      throw error
    }
    return store
  }

  /**
   * The global position live readers have been told everything up to: entries appended to all
   * streams so far (on PostgreSQL, what this replica's feed has delivered of every replica's).
   */
  get gpos(): number {
    const visible = this.#engine.visibleGpos
    return visible === undefined ? this.#writes.gpos : Math.max(visible, this.#told)
  }

  /**
   * Whether other server processes write the same database (PostgreSQL): then what one of them
   * read a moment ago may not be what a read now sees, so nothing read is reused across reads.
   */
  get shared(): boolean {
    return this.#engine.shared
  }

  /** Resolves once live readers have been told of everything up to `gpos` (a read may be ahead). */
  reached(gpos: number): Promise<void> {
    return this.#engine.reached(gpos)
  }

  /** Rejects unless the database answers a query: it is open and readable (the `/ready` probe). */
  ping(): Promise<void> {
    return this.#engine.ping()
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

  /**
   * Looks up streams that live readers follow, so that one which expired meanwhile is found out:
   * its readers are told it is gone (a `delete` event) once its rows are purged, or at once when
   * forks still read through it. One read of all of them (on a shared engine, fetched together).
   */
  sweep(names: readonly string[]): void {
    if (this.#closed || names.length === 0) return
    this.#engine
      .read(() => this.#engine.parts('sweep', names, (name) => this.#lookup(name)))
      .then((found) => {
        for (const lookup of found) if (lookup.status === 'gone') this.#emit({ type: 'delete', stream: lookup.record })
      })
      .catch(() => {
        // The next sweep looks again.
      })
  }

  /** Calls `listener` after every group commit: the writes it carried and how long it took, in ms. */
  onCommit(listener: (writes: number, ms: number) => void): () => void {
    this.#commitListeners.add(listener)
    return () => this.#commitListeners.delete(listener)
  }

  /**
   * Runs `operation` over a view of the store: its reads agree with each other (the same stream
   * rows throughout; with `consistent`, one snapshot of the whole database, at the view's gpos).
   * The engine may run it more than once: it must only read.
   */
  read<T>(operation: (view: StoreView) => T, options?: Pick<ReadOptions, 'consistent'>): Promise<T> {
    return this.#engine.read(() => operation(this.#view), options)
  }

  /**
   * A stream's metadata; rejects with `STREAM_NOT_FOUND` when it does not exist (or has expired),
   * and `STREAM_DELETED` (410) for one deleted or expired that forks still read through.
   */
  get(name: string): Promise<StreamInfo> {
    return this.read((view) => view.get(name))
  }

  /** A living stream's metadata, or `undefined`. */
  find(name: string): Promise<StreamInfo | undefined> {
    return this.read((view) => view.find(name))
  }

  /** Up to `limit` entries after `seq`, in order (inherited ones included). */
  entriesAfter(info: StreamInfo, seq: number, limit: number): Promise<StoredEntry[]> {
    return this.read((view) => view.entriesAfter(info, seq, limit))
  }

  /** Up to `limit` entries whose global position is after `gpos`, in order. */
  entriesAfterGpos(info: StreamInfo, gpos: number, limit: number): Promise<StoredEntry[]> {
    return this.read((view) => view.entriesAfterGpos(info, gpos, limit))
  }

  /** The head state of a state stream. */
  headState(name: string): Promise<{ seq: number; ts: number; state: Json }> {
    return this.read((view) => view.headState(name))
  }

  /** The window covering `point`, with the entries after `after` (see `HistoryReader.window`). */
  window(name: string, point: WindowPoint, after?: number): Promise<WindowAnswer> {
    return this.read((view) => view.window(name, point, after))
  }

  /** The identity of that window's answer, without reading its entries (see `HistoryReader.windowIdentity`). */
  windowIdentity(name: string, point: WindowPoint, after?: number): Promise<string | null> {
    return this.read((view) => view.windowIdentity(name, point, after))
  }

  /** Bounds of the windows covering `[from, to]`, in time order (see `HistoryReader.windows`). */
  windows(name: string, from: number, to: number): Promise<ReturnType<StoreView['windows']>> {
    return this.read((view) => view.windows(name, from, to))
  }

  /**
   * Up to `limit` living streams whose names start with `prefix`, in name order, after the name
   * `after` (`''`: from the first), and the name to list after for the next page.
   */
  list(prefix: string, after: string, limit: number): Promise<StreamPage> {
    return this.#engine.read(() => this.#list.page(prefix, after, limit))
  }

  /** The state after every entry with `ts ≤ at`, or after entry `seq` (see `HistoryReader.state`). */
  state(name: string, point: { at: number } | { seq: number }): Promise<StateAt> {
    return this.read((view) => view.state(name, point))
  }

  /** The state of `name` at global position `gpos` (see `StoreView.stateAtGpos`). */
  stateAtGpos(name: string, gpos: number): Promise<StateAt> {
    return this.read((view) => view.stateAtGpos(name, gpos))
  }

  /**
   * Records a read of a `Stream-TTL` stream: its sliding expiry starts again from now (Durable
   * Streams §5.1; a write does this by itself). Does nothing for other streams. Call it once the
   * read is known to be valid. It writes nothing itself: the next group commit does. A read of a
   * fork touches the fork alone, never the sources it reads through.
   */
  touch(name: string): Promise<void> {
    if (this.#closed) return Promise.resolve()
    // The time of the read, whenever the lookup below answers.
    const now = this.#now()
    if (!this.#engine.shared) {
      this.#touchRecord(this.#find(name), now)
      return Promise.resolve()
    }
    return this.#engine.read(() => this.#find(name)).then((record) => this.#touchRecord(record, now))
  }

  #touchRecord(record: StreamRecord | undefined, now: number): void {
    if (record === undefined || record.ttlSeconds === null || this.#closed) return
    record.touchedTs = now
    this.#touches.touch(record.id, now)
  }

  /** Estimated bytes of head states held in memory, and how many (for metrics and tests). */
  get stateCache(): { bytes: number; streams: number } {
    return this.#catalog.stateCache
  }

  /** Bytes of the states kept inside closed windows (at most their budget), and of how many windows (for tests). */
  get checkpointCache(): { bytes: number; windows: number } {
    return this.#history.checkpointCache
  }

  /**
   * Creates a stream (or a fork of one), or confirms that one with the same configuration exists
   * (`created: false`); a different configuration is `STREAM_CONFLICT`.
   */
  create(request: CreateStream): Promise<{ created: boolean; info: StreamInfo }> {
    const names = request.fork === undefined ? [request.name] : [request.name, request.fork.source]
    return this.#write(() => this.#writes.create(request), { solo: true, names })
  }

  /**
   * Appends a request's messages atomically (all or nothing), and closes the stream with them
   * when asked. A closed stream refuses appends (`STREAM_CLOSED`), except an idempotent producer's
   * retry of one it stored and a repeated close, which succeed as duplicates.
   */
  append(request: AppendRequest): Promise<AppendResult> {
    return this.#write(() => this.#writes.append(request), { names: [request.name], ...(request.producer && { producer: request.producer.id }) })
  }

  /**
   * Stores the mutation from the current state to `state` (nothing when they are equal). The
   * mutation is a JSON Patch, or a `set` when that is smaller.
   */
  setState(name: string, state: Json): Promise<{ stored: boolean; seq: number; ts: number }> {
    return this.#write(() => this.#writes.setState(name, state), { names: [name] })
  }

  /**
   * Deletes a stream. One that forks still read through is only marked deleted (it answers 410,
   * and its name stays taken) until the last of them goes; otherwise its rows go at once, and so
   * do those of any deleted source it kept alive.
   */
  delete(name: string): Promise<void> {
    return this.#write(() => this.#writes.delete(name), { solo: true, names: [name] })
  }

  /** Resolves once every write queued so far has committed or failed. */
  drain(): Promise<void> {
    return this.#engine.drain()
  }

  /** Finishes queued writes, then closes the database. Later writes fail with `SHUTTING_DOWN`. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#touches.close()
    // The last commit writes the touches still in memory.
    if (this.#touches.dirty) this.#engine.write(() => ({ result: undefined })).catch(() => {})
    await this.#engine.drain()
    this.#listeners.clear()
    await this.#engine.close()
  }

  /** Queues a write job; once its group commits, its events are told to readers. */
  #write<T>(run: () => JobOutcome<T>, hints?: JobHints): Promise<T> {
    if (this.#closed) return Promise.reject(new StateStreamError(ErrorCode.SHUTTING_DOWN, 'the store is closed'))
    return this.#engine.write(() => {
      const outcome = run()
      const events = outcome.events ?? []
      return { ...outcome, afterCommit: () => this.#publish(events) }
    }, hints)
  }

  /**
   * Tells readers of a commit of this process. A shared engine's readers hear of every commit,
   * this replica's included, from the feed (`#deliver`), so that all of them come in one order.
   */
  #publish(events: readonly StoreEvent[]): void {
    if (this.#engine.shared) return
    for (const event of events) this.#emit(event)
  }

  /** What the feed read: every replica's commits, in commit order. */
  async #deliver(items: readonly CommittedItem[]): Promise<void> {
    const ids = [...new Set(items.map((item) => item.streamId))]
    const records = await this.#engine.read(
      () => {
        const found = new Map<number, StreamInfo>()
        for (const id of ids) {
          const record = this.#catalog.recordById(id)
          if (record !== undefined) found.set(id, record)
        }
        return found
      },
      { streamIds: ids },
    )
    const events = committedEvents(items, records)
    for (let i = 0; i < events.length; i++) {
      // One commit at a time, as a single server tells them: a read that caught up on several
      // commits must not land on readers as one burst (their sockets get a turn in between).
      if (i > 0) await new Promise((resolve) => setImmediate(resolve))
      const event = events[i] as StoreEvent
      // The feed's position moves only once the whole page is told; until then the clock is what
      // has been told so far, or a tick between two commits would claim less than was sent.
      if (event.type === 'append') this.#told = Math.max(this.#told, event.entries.at(-1)?.gpos ?? 0)
      this.#emit(event)
    }
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

  // ---- finding ----

  #lookup(name: string): Lookup {
    const found = this.#catalog.lookup(name)
    if (found.status === 'absent' && found.collectable !== undefined) this.#scheduleCollect(found.collectable)
    return found
  }

  #find(name: string): StreamRecord | undefined {
    const found = this.#lookup(name)
    return found.status === 'live' ? found.record : undefined
  }

  #live(name: string): StreamRecord {
    return liveRecord((stream) => this.#lookup(stream), name)
  }

  #stateRecord(name: string): StreamRecord {
    return stateRecord((stream) => this.#lookup(stream), name)
  }

  /** Queues the purge of dead stream `id` (a lookup found it collectable). */
  #scheduleCollect(id: number): void {
    if (this.#closed || this.#collecting.has(id)) return
    this.#collecting.add(id)
    this.#write(
      () => {
        this.#collecting.delete(id)
        // Its live readers (an expired stream's) are told it is gone.
        const purged = this.#catalog.collect(id)
        return { result: undefined, events: purged.map((stream): StoreEvent => ({ type: 'delete', stream })) }
      },
      { solo: true },
    ).catch(() => {})
  }
}
