/**
 * An in-memory stand-in for the server's history routes, following §1 of the design with the
 * same window arithmetic the server uses. It counts what it serves, can fail its next fetches,
 * and plays the live tail's events (window, entry, bound) into a store.
 */
import { ErrorCode, StateStreamError, apply, encodeOffset, windowIndexAt, windowIndexForSeq } from '@statestream/common'
import type { Bound, Entry, Json, Mutation, Snapshot, WindowData } from '@statestream/common'
import type { Point } from '../../src/core/window-machine.ts'
import type { PartialHandler, WindowAnswer } from '../../src/io/window-fetcher.ts'
import type { WindowSource, WindowStore } from '../../src/window-store.ts'

export class FakeHistory implements WindowSource {
  readonly name = 'fake'
  readonly created: number
  readonly entries: Entry[] = []
  /** Snapshot bounds, S0 first, with their states. */
  readonly snapshots: Snapshot[] = []
  /** How many times each seq was sent to the client (window fetches and live tail together). */
  readonly served = new Map<number, number>()
  fetches = 0
  #failures = 0
  #cuts = 0
  #keep = 0.5
  #state: Json = {}
  #tail: WindowStore | undefined

  constructor(created: number) {
    this.created = created
    this.snapshots.push({ seq: 0, ts: created, state: {} })
  }

  get head(): Bound {
    const last = this.entries[this.entries.length - 1]
    return last === undefined ? { seq: 0, ts: this.created } : { seq: last.seq, ts: last.ts }
  }

  /** Appends an entry `dt` ms after the last one, taking a snapshot after it if `snapshot`. */
  append(m: Mutation, dt: number, snapshot: boolean): void {
    const seq = this.head.seq + 1
    const entry = { seq, ts: this.head.ts + dt, m }
    this.#state = apply(this.#state, m)
    this.entries.push(entry)
    if (this.#tail !== undefined) this.#send(entry)
    if (snapshot) {
      this.snapshots.push({ seq, ts: entry.ts, state: this.#state })
      this.#tail?.liveBound({ seq, ts: entry.ts })
    }
  }

  /** The naive answer: replay every entry with `ts ≤ at` from the start. */
  stateAt(at: number): Json | undefined {
    if (at < this.created) return undefined
    let state: Json = {}
    for (const entry of this.entries) if (entry.ts <= at) state = apply(state, entry.m)
    return state
  }

  /** The extent of the window holding seq `seq`, as a listing gives it. */
  spanOf(seq: number): { start: Bound; end: Bound | null } {
    const index = windowIndexForSeq(this.snapshots, seq)
    const start = this.snapshots[index] as Snapshot
    const next = this.snapshots[index + 1]
    return { start: { seq: start.seq, ts: start.ts }, end: next === undefined ? null : { seq: next.seq, ts: next.ts } }
  }

  /** Makes the next `count` fetches fail with a network error, delivering nothing. */
  failNext(count: number): void {
    this.#failures = count
  }

  /**
   * Makes the next `count` fetches cut short: each delivers its start and the first `keep`
   * fraction of its entries (at least one when it has two or more), then fails, as an answer cut
   * halfway does.
   */
  cutNext(count: number, keep = 0.5): void {
    this.#cuts = count
    this.#keep = keep
  }

  /** The server's `GET /v1/window`, as the client's fetcher hands it over (a `WindowSource`). */
  async fetch(point: Point, after: number | undefined, onPartial: PartialHandler): Promise<WindowAnswer> {
    this.fetches += 1
    await Promise.resolve()
    if (this.#failures > 0) {
      this.#failures -= 1
      throw new StateStreamError(ErrorCode.NETWORK, 'injected failure')
    }
    const index = 'at' in point ? windowIndexAt(this.snapshots, point.at) : windowIndexForSeq(this.snapshots, point.seq)
    if (index === -1) {
      return { data: { stream: this.name, start: null, entries: [], end: { seq: 0, ts: this.created }, nextOffset: encodeOffset(0) }, size: 10 }
    }
    const start = this.snapshots[index] as Snapshot
    const next = this.snapshots[index + 1]
    const from = Math.max(start.seq, after ?? start.seq)
    const upper = next === undefined ? this.head.seq : next.seq
    const entries = this.entries.slice(from, upper)
    if (this.#cuts > 0 && entries.length >= 2) {
      this.#cuts -= 1
      const kept = entries.slice(0, Math.max(1, Math.floor(entries.length * this.#keep)))
      for (const entry of kept) this.served.set(entry.seq, (this.served.get(entry.seq) ?? 0) + 1)
      onPartial({ start, entries: kept, end: undefined }, JSON.stringify(kept).length)
      throw new StateStreamError(ErrorCode.NETWORK, 'injected cut')
    }
    for (const entry of entries) this.served.set(entry.seq, (this.served.get(entry.seq) ?? 0) + 1)
    const data: WindowData = {
      stream: this.name,
      start,
      entries,
      end: next === undefined ? null : { seq: next.seq, ts: next.ts },
      nextOffset: encodeOffset(Math.max(from, upper)),
    }
    return { data, size: JSON.stringify(data).length }
  }

  /** A live tail connects: resuming from the store's open window, or with the open window. */
  startTail(store: WindowStore): void {
    const resume = store.index.head()
    this.#tail = store
    if (resume === undefined) {
      const start = this.snapshots[this.snapshots.length - 1] as Snapshot
      const entries = this.entries.slice(start.seq)
      for (const entry of entries) this.served.set(entry.seq, (this.served.get(entry.seq) ?? 0) + 1)
      store.liveWindow({ stream: this.name, start, entries, end: null, nextOffset: encodeOffset(this.head.seq) }, 100)
    } else {
      // Catch-up: entries after the resume point, each followed by its bound if a snapshot is there.
      for (const entry of this.entries.slice(resume.seq)) {
        this.#send(entry)
        const snapshot = this.snapshots.find((s) => s.seq === entry.seq)
        if (snapshot !== undefined) store.liveBound({ seq: snapshot.seq, ts: snapshot.ts })
      }
    }
    store.tailed()
  }

  stopTail(): void {
    this.#tail?.untailed()
    this.#tail = undefined
  }

  get tailing(): boolean {
    return this.#tail !== undefined
  }

  #send(entry: Entry): void {
    this.served.set(entry.seq, (this.served.get(entry.seq) ?? 0) + 1)
    this.#tail?.liveEntry(entry, 20)
  }
}
