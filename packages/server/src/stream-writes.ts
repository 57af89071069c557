/**
 * The store's writes, decided: each method is one write job (run by the engine's group commit,
 * maybe more than once: see `storage-engine.ts`) that checks the request against the stream,
 * plans what to store with the pure planners (`append-plan.ts`, `stream-config.ts`,
 * `fork-point.ts`), stores it through the engine's rows, and returns its result, its in-memory
 * effects (`apply`, once its savepoint holds) and what readers are to be told (`events`).
 */
import { ErrorCode, StateStreamError, diff, quote, stringifyJson } from '@statestream/common'
import type { Json, SnapshotPolicy } from '@statestream/common'
import { planAppend, planBytes, planClose } from './append-plan.ts'
import type { AppendPlan, StreamHead } from './append-plan.ts'
import { checkForkOf, forkStart, resolveForkPoint } from './fork-point.ts'
import type { ResolvedForkPoint } from './fork-point.ts'
import { isJsonStream } from './log-format.ts'
import type { LogReader } from './log-reader.ts'
import { fenceClosed, fenceProducer } from './producer-fence.ts'
import type { RowStore } from './storage-engine.ts'
import { checkConfig, closedError, creationTime, requestedConfig, sameConfig } from './stream-config.ts'
import type { StreamConfig } from './stream-config.ts'
import type { Lookup, StreamCatalog } from './stream-catalog.ts'
import { mediaType } from './stream-types.ts'
import type { AppendRequest, AppendResult, CreateStream, ForkRequest, StoreEvent, StoredEntry, StreamInfo, StreamRecord } from './stream-types.ts'
import type { JobOutcome } from './write-queue.ts'

/** What the writes work with. */
export interface StreamWritesDeps {
  rows: RowStore
  log: LogReader
  catalog: StreamCatalog
  /** The default snapshot policy of new state streams. */
  policy: SnapshotPolicy
  now: () => number
  /** Finds a stream by name (the store's lookup, which queues the purge of dead streams). */
  lookup: (name: string) => Lookup
}

export class StreamWrites {
  /** The last global position handed out (set by the engine when a group starts, on a shared engine). */
  gpos = 0
  readonly #rows: RowStore
  readonly #log: LogReader
  readonly #catalog: StreamCatalog
  readonly #policy: SnapshotPolicy
  readonly #now: () => number
  readonly #lookup: (name: string) => Lookup

  constructor(deps: StreamWritesDeps) {
    this.#rows = deps.rows
    this.#log = deps.log
    this.#catalog = deps.catalog
    this.#policy = deps.policy
    this.#now = deps.now
    this.#lookup = deps.lookup
  }

  /**
   * Creates a stream (or a fork of one), or confirms that one with the same configuration exists
   * (`created: false`); a different configuration is `STREAM_CONFLICT`.
   */
  create(request: CreateStream): JobOutcome<{ created: boolean; info: StreamInfo }> {
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
    // Its live readers are told it is gone before anything of the new stream reaches them (an
    // engine may give the new stream the same id).
    const stale = this.#rows.byName(request.name)
    const purged = stale === undefined ? [] : this.#catalog.collect(stale.id)
    const created = request.fork === undefined ? this.#createNew(request) : this.#createFork(request, request.fork)
    if (purged.length === 0) return created
    return { ...created, events: [...purged.map((stream): StoreEvent => ({ type: 'delete', stream })), ...(created.events ?? [])] }
  }

  /**
   * Appends a request's messages atomically (all or nothing), and closes the stream with them
   * when asked. A closed stream refuses appends (`STREAM_CLOSED`), except an idempotent producer's
   * retry of one it stored and a repeated close, which succeed as duplicates.
   */
  append(request: AppendRequest): JobOutcome<AppendResult> {
    // A writer of mutations checks the kind first: on a plain stream they would be stored as data.
    const record = request.kind === 'state' ? stateRecord(this.#lookup, request.name) : liveRecord(this.#lookup, request.name)
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
    return outcome(
      {
        status: 'appended',
        headSeq: written.head.seq,
        headTs: written.head.ts,
        closed: written.closed,
        ...(producer && { producer: { epoch: producer.epoch, seq: producer.seq } }),
      },
      written,
    )
  }

  /**
   * Stores the mutation from the current state to `state` (nothing when they are equal). The
   * mutation is a JSON Patch, or a `set` when that is smaller.
   */
  setState(name: string, state: Json): JobOutcome<{ stored: boolean; seq: number; ts: number }> {
    const record = stateRecord(this.#lookup, name)
    if (record.closed) throw closedError(record)
    const ops = diff(this.#catalog.head(record).state, state)
    if (ops.length === 0) return { result: { stored: false, seq: record.headSeq, ts: record.headTs } }
    const patch = stringifyJson({ patch: ops })
    const set = stringifyJson({ set: state })
    const body = Buffer.from(patch.length <= set.length ? patch : set)
    // Our own body: `state` was checked at the boundary, and its wrapper adds a level or three.
    const start = this.#head(record)
    const plan = planAppend(start, body, { now: this.#now(), gpos: this.gpos, creating: false, trusted: true })
    const written = this.#persist(record, start, [plan], false)
    return outcome({ stored: true, seq: written.head.seq, ts: written.head.ts }, written)
  }

  /**
   * Deletes a stream. One that forks still read through is only marked deleted (it answers 410,
   * and its name stays taken) until the last of them goes; otherwise its rows go at once, and so
   * do those of any deleted source it kept alive.
   */
  delete(name: string): JobOutcome<void> {
    const record = liveRecord(this.#lookup, name)
    if (this.#catalog.retained(record.id)) this.#rows.softDelete(record.id)
    else this.#catalog.collect(record.id, true)
    const events: StoreEvent[] = [{ type: 'delete', stream: record }]
    return {
      result: undefined,
      apply: () => {
        record.deleted = true
        this.#catalog.forget(name)
      },
      events,
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
    const prefix = point.prefix && planBytes(this.#head(record, false), point.prefix.data, point.prefix.ts, this.gpos)
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
    return outcome(
      { created: true, info: record },
      {
        events: written.events,
        apply: () => {
          written.apply()
          this.#catalog.remember(record)
        },
      },
    )
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
    return planAppend(from, body, { now: this.#now(), gpos: gpos ?? this.gpos, creating })
  }

  /**
   * Persists `plans` (consecutive, each from the previous one's head) and, when `close`, the
   * closure. Memory changes wait for `apply` (the savepoint may still roll back); readers are told
   * `events` once the group commits.
   */
  #persist(record: StreamRecord, start: StreamHead, plans: AppendPlan[], close: boolean, streamSeq?: string) {
    const now = this.#now()
    const lastStreamSeq = streamSeq ?? record.lastStreamSeq
    let head = start
    let gpos = this.gpos
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
        if (final.state !== undefined) this.#catalog.setHead(record.id, final.seq, final.state, final.stateBytes ?? 0)
        if (close) record.closed = true
        this.gpos = gpos
      },
      events: [
        // A closed stream's end is told once, by its close: not also as a window closing there.
        ...(entries.length > 0
          ? [{ type: 'append' as const, stream: record, entries, snapshots: close ? snapshots.filter((bound) => bound.seq !== final.seq) : snapshots }]
          : []),
        ...(close ? [{ type: 'close' as const, stream: record, bound: { seq: final.seq, ts: final.ts } }] : []),
      ],
    }
  }
}

/** A job's outcome: its result, its in-memory effects, and what readers are told of it. */
function outcome<T>(result: T, written: { apply: () => void; events: StoreEvent[] }): JobOutcome<T> {
  return { result, apply: written.apply, events: written.events }
}

/** A living stream's record; `STREAM_NOT_FOUND`, or `STREAM_DELETED` for one kept for its forks. */
export function liveRecord(lookup: (name: string) => Lookup, name: string): StreamRecord {
  const found = lookup(name)
  if (found.status === 'live') return found.record
  if (found.status === 'gone') {
    throw new StateStreamError(ErrorCode.STREAM_DELETED, `stream "${name}" was deleted (it is kept only for the forks that read through it)`)
  }
  throw new StateStreamError(ErrorCode.STREAM_NOT_FOUND, `no stream "${name}"`)
}

/** A living state stream's record; `NOT_A_STATE_STREAM` for a plain one. */
export function stateRecord(lookup: (name: string) => Lookup, name: string): StreamRecord {
  const record = liveRecord(lookup, name)
  if (record.kind !== 'state') {
    throw new StateStreamError(ErrorCode.NOT_A_STATE_STREAM, `"${name}" is not a state stream`)
  }
  return record
}
