/**
 * The store's reads, as one operation sees them: synchronous calls over the engine's rows and
 * log, run by `StreamStore.read` (which the engine may run again until every read is answered:
 * see `storage-engine.ts`). Several reads in one operation see the same stream rows; with
 * `consistent`, the whole database at one gpos. Routes use the store's async shorthands; the
 * live tails compose reads here, so that their initial data and the gpos it was read at agree.
 */
import type { Bound, Json, StateAt } from '@statestream/common'
import type { HeadState } from './head-states.ts'
import type { HistoryReader, WindowAnswer, WindowPoint } from './history-reader.ts'
import type { LogReader } from './log-reader.ts'
import type { StoredEntry, StreamInfo, StreamRecord } from './stream-types.ts'

/** What a view reads through (the store's lookups, which also queue the purge of dead streams). */
export interface ViewSource {
  /** A living stream's record; throws `STREAM_NOT_FOUND` or `STREAM_DELETED`. */
  live(name: string): StreamRecord
  /** A living stream's record, or `undefined`. */
  find(name: string): StreamRecord | undefined
  /** A living state stream's record; throws `NOT_A_STATE_STREAM` for a plain one. */
  stateRecord(name: string): StreamRecord
  /** A state stream's head state. */
  head(record: StreamRecord): HeadState
  /** The gpos everything read so far is at or before. */
  gpos(): number
  /** `compute` of each item, as independent parts of the operation (see `StorageEngine.parts`). */
  parts<I, T>(key: string, items: readonly I[], compute: (item: I, index: number) => T): T[]
  readonly log: LogReader
  readonly history: HistoryReader
}

/** Entries read per page of a chunk. */
const READ_PAGE = 1000

export class StoreView {
  readonly #source: ViewSource

  constructor(source: ViewSource) {
    this.#source = source
  }

  /**
   * `compute` of each of `items`, as parts of this operation that do not depend on each other
   * (`key` names them within it). An engine that reruns the operation after each read it fetches
   * (PostgreSQL) works each part out once and fetches the parts' reads together. A part must be a
   * function of its reads, and its value must not be changed once returned.
   */
  parts<I, T>(key: string, items: readonly I[], compute: (item: I, index: number) => T): T[] {
    return this.#source.parts(key, items, compute)
  }

  /**
   * The gpos of this read: every entry it reads has a gpos at most this (a `consistent` read on a
   * shared engine: its snapshot's position).
   */
  get gpos(): number {
    return this.#source.gpos()
  }

  /**
   * A stream's metadata; throws `STREAM_NOT_FOUND` when it does not exist (or has expired), and
   * `STREAM_DELETED` (410) for one deleted or expired that forks still read through.
   */
  get(name: string): StreamInfo {
    return this.#source.live(name)
  }

  /** A living stream's metadata, or `undefined`. */
  find(name: string): StreamInfo | undefined {
    return this.#source.find(name)
  }

  /** Up to `limit` entries after `seq`, in order (inherited ones included). */
  entriesAfter(info: StreamInfo, seq: number, limit: number): StoredEntry[] {
    return this.#source.log.entriesAfter(info.segments, seq, limit)
  }

  /**
   * Entries after `seq`, up to about `maxBytes` (always at least one when there is one), and at
   * most `maxEntries`.
   */
  readChunk(info: StreamInfo, seq: number, maxBytes: number, maxEntries = Number.POSITIVE_INFINITY): StoredEntry[] {
    const out: StoredEntry[] = []
    let bytes = 0
    let after = seq
    for (;;) {
      const page = this.entriesAfter(info, after, Math.min(READ_PAGE, maxEntries - out.length))
      for (const entry of page) {
        const size = entry.data.length
        if (out.length > 0 && bytes + size > maxBytes) return out
        out.push(entry)
        bytes += size
        after = entry.seq
      }
      if (page.length < READ_PAGE || out.length >= maxEntries) return out
    }
  }

  /** Up to `limit` entries whose global position is after `gpos`, in order. */
  entriesAfterGpos(info: StreamInfo, gpos: number, limit: number): StoredEntry[] {
    return this.entriesAfter(info, this.seqAtGpos(info, gpos), limit)
  }

  /** The last seq of the stream whose entry's global position is at most `gpos` (0 if none). */
  seqAtGpos(info: StreamInfo, gpos: number): number {
    return this.#source.log.lastSeqAtGpos(info.segments, info.headSeq, gpos)
  }

  /** The snapshots taken after entry `afterSeq` up to entry `uptoSeq` (the bounds a live catch-up replays). */
  snapshotsBetween(info: StreamInfo, afterSeq: number, uptoSeq: number): Bound[] {
    return this.#source.log.snapshotsBetween(info.segments, afterSeq, uptoSeq)
  }

  /**
   * The bounds a live tail sends after entry `afterSeq` up to entry `uptoSeq` of `info` (as this
   * read found it): its snapshots, but for a closed stream not the one at its last entry. That end
   * is told once, as the final bound (`"closed":true`), not also as a window closing there.
   */
  liveBoundsBetween(info: StreamInfo, afterSeq: number, uptoSeq: number): Bound[] {
    const bounds = this.snapshotsBetween(info, afterSeq, uptoSeq)
    return info.closed ? bounds.filter((bound) => bound.seq !== info.headSeq) : bounds
  }

  /** The head state of a state stream. */
  headState(name: string): { seq: number; ts: number; state: Json } {
    const record = this.#source.stateRecord(name)
    return { seq: record.headSeq, ts: record.headTs, state: this.#source.head(record).state }
  }

  /** The window covering `point`, with the entries after `after` (all of them by default). */
  window(name: string, point: WindowPoint, after?: number): WindowAnswer {
    return this.#source.history.window(name, point, after)
  }

  /** The identity the window answer would carry, found without reading its entries (see `HistoryReader.windowIdentity`). */
  windowIdentity(name: string, point: WindowPoint, after?: number): string | null {
    return this.#source.history.windowIdentity(name, point, after)
  }

  /** Bounds of the windows covering `[from, to]`, in time order. */
  windows(name: string, from: number, to: number): ReturnType<HistoryReader['windows']> {
    return this.#source.history.windows(name, from, to)
  }

  /** The state after every entry with `ts ≤ at`, or after entry `seq`. */
  state(name: string, point: { at: number } | { seq: number }): StateAt {
    return this.#source.history.state(name, point)
  }

  /**
   * The state of `name` at global position `gpos`: after its last entry whose gpos is at most
   * that (its first state, at seq 0, when it has none). Several streams read at one gpos are
   * consistent with one another as a live reader at that gpos saw them.
   */
  stateAtGpos(name: string, gpos: number): StateAt {
    const info = this.#source.stateRecord(name)
    return this.state(name, { seq: this.seqAtGpos(info, gpos) })
  }
}
