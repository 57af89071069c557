/**
 * The codec of `/v1/live?stream=a&stream=b…`: several streams on one connection, with the
 * server-wide clock. Each stream's events feed that stream's window store (whose index holds its
 * one head), so `client.stream(a).stateAt(…)` answers from what this connection brought.
 *
 * Never refetch: a stream whose store holds its open window is asked for as `a@<last held seq>`:
 * the server sends only its entries after that seq; the others get their open window; a `clock`
 * ends the initial data (the first event with an `id:`). Once a connection's initial data was
 * complete, a drop resumes by gpos (`Last-Event-ID`), which re-sends nothing; a drop before that
 * starts over from each stream's held head the same way. Every connection names the start of each
 * held open window (`window=<name>@<seq>.<ts>`), and the server refuses it (`410`) when one is not
 * its stream's (deleted and created again meanwhile): the streams held are then checked (bounds
 * only), those that are another history now are let go of and asked for afresh, and it connects
 * again.
 * A closed stream's final `bound` (`"closed":true`) ends that stream; the tail ends with the last.
 */
import { ErrorCode, HEADERS, LIVE_EVENTS, QUERY, ROUTES, STREAM_RESUME_SEPARATOR, StateStreamError } from '@statestream/common'
import type { Bound, Entry, Mutation, Snapshot, WindowData } from '@statestream/common'
import type { SseEvent } from './sse.ts'
import type { EventOutcome, TailCodec } from './tail.ts'
import type { Transport } from './transport.ts'
import type { WindowStore } from '../window-store.ts'

/** A tick of the server-wide clock: `gpos` entries appended to all streams as of server time `ts`. */
export interface ClockTick {
  gpos: number
  ts: number
}

/** Where the codec sends what it learns: each stream's head (current state, or a change) and clock ticks. */
export interface MultiSink {
  state(stream: string, head: Snapshot, gpos: number, entry: Entry | undefined): void
  clock(tick: ClockTick): void
}

export class MultiCodec implements TailCodec {
  readonly label: string
  readonly #streams: readonly string[]
  readonly #stores: (name: string) => WindowStore
  readonly #transport: Transport
  readonly #sink: MultiSink
  /** Per stream, the seq of the last head emitted. */
  readonly #emitted = new Map<string, number>()
  /** Streams whose held head is not emitted yet: it is current once the initial data says so. */
  readonly #unannounced = new Set<string>()
  /** Whether every stream has all entries up to `#lastId` and none after it, so a gpos resume re-sends nothing. */
  #complete = false
  #byGpos = false
  #lastId: string | undefined
  #tailing = false
  /** Streams that are closed and wholly received. */
  readonly #ended = new Set<string>()
  /** Whether the last request named held windows, so that a `410` means one is another history's. */
  #named = false
  /** Whether the server refused a held window: which one is found out before the next connection. */
  #recheck = false

  constructor(streams: readonly string[], stores: (name: string) => WindowStore, transport: Transport, sink: MultiSink) {
    this.label = streams.join(',')
    this.#streams = streams
    this.#stores = stores
    this.#transport = transport
    this.#sink = sink
  }

  /**
   * Before the connection that follows a refused held window: every stream whose open window is
   * held is checked (one bounds-only request each) to be the history held still; one that is
   * another history now is forgotten and asked for afresh (its open window, whose head is then
   * its current state), and the connection does not resume by gpos, which would give only that
   * stream's entries after it.
   */
  async prepare(signal: AbortSignal): Promise<void> {
    // A failure from here on is not a refusal of named windows (a 410 of the listing ends the tail).
    this.#named = false
    if (!this.#recheck) return
    const owned = await Promise.all(this.#streams.map((name) => this.#stores(name).ownsOpen(signal)))
    this.#recheck = false
    let stale = this.#streams.filter((_, i) => owned[i] !== true)
    if (stale.length === 0) {
      // The listings found every window held, yet the server refused one: let go of them all, so
      // that the next connection names none and cannot be refused again.
      stale = this.#streams.filter((name) => this.#stores(name).index.open !== undefined)
      for (const name of stale) this.#stores(name).clear()
    }
    for (const name of stale) this.#emitted.delete(name)
    this.#complete = false
  }

  request(): { path: string; headers: Record<string, string> } {
    this.#byGpos = this.#lastId !== undefined && this.#complete
    const headers: Record<string, string> = this.#byGpos ? { [HEADERS.lastEventId]: this.#lastId as string } : {}
    const held = new Map<string, number>()
    if (!this.#byGpos) {
      for (const name of this.#streams) {
        const head = this.#stores(name).index.head()
        if (head === undefined) continue
        held.set(name, head.seq)
        if (this.#emitted.get(name) !== head.seq) this.#unannounced.add(name)
      }
    }
    const streams = this.#streams.map((name) => `${QUERY.stream}=${held.has(name) ? `${name}${STREAM_RESUME_SEPARATOR}${held.get(name)}` : name}`)
    // Whether resumed by gpos or by seq, the server checks that each window held is its stream's.
    const windows = this.#streams.flatMap((name) => {
      const start = this.#stores(name).index.open?.model.start
      return start === undefined ? [] : [`${QUERY.window}=${name}${STREAM_RESUME_SEPARATOR}${start.seq}.${start.ts}`]
    })
    this.#named = windows.length > 0
    return { path: `${ROUTES.liveMulti}?${[...streams, ...windows].join('&')}`, headers }
  }

  opened(): boolean {
    this.#tailing = true
    for (const name of this.#streams) this.#stores(name).tailed()
    return this.#byGpos
  }

  event(event: SseEvent): EventOutcome {
    switch (event.event) {
      case LIVE_EVENTS.window: {
        const data = JSON.parse(event.data) as WindowData
        this.#stores(data.stream).liveWindow(data, event.data.length)
        this.#transport.traceEntries(data.stream, 'live', data.entries)
        // Current as of the gpos the clock that ends the initial data gives.
        this.#unannounced.add(data.stream)
        return 'none'
      }
      case LIVE_EVENTS.entry: {
        const wire = JSON.parse(event.data) as { stream: string; seq: number; ts: number; m: Mutation; gpos: number }
        const store = this.#stores(wire.stream)
        const head = store.index.head()
        if (head === undefined || wire.seq > head.seq + 1) {
          // Start over from each stream's own head, not from a gpos that does not fit them all.
          this.#complete = false
          const problem = head === undefined ? 'came before its window' : `skips entries after ${head.seq}`
          throw new StateStreamError(ErrorCode.NETWORK, `entry ${wire.seq} of "${wire.stream}" ${problem}`)
        }
        this.#remember(event.id)
        if (wire.seq <= head.seq) return 'none'
        // Its first entry on this connection: the held state was current just before it.
        if (this.#unannounced.has(wire.stream)) this.#current(wire.stream, wire.gpos - 1)
        const entry: Entry = { seq: wire.seq, ts: wire.ts, m: wire.m }
        const next = store.liveEntry(entry, event.data.length)
        this.#transport.traceEntries(wire.stream, 'live', [entry])
        this.#emitted.set(wire.stream, next.seq)
        this.#sink.state(wire.stream, next, wire.gpos, entry)
        return 'progress'
      }
      case LIVE_EVENTS.bound: {
        const bound = JSON.parse(event.data) as Bound & { stream: string; closed?: boolean }
        const store = this.#stores(bound.stream)
        if (bound.closed !== true) {
          store.liveBound({ seq: bound.seq, ts: bound.ts })
          return 'none'
        }
        // The stream is closed: its last window ends here, its final state is current, and
        // nothing more of it comes; the connection is over once every stream is.
        const last = store.liveEnd({ seq: bound.seq, ts: bound.ts })
        this.#unannounced.delete(bound.stream)
        if (last !== undefined && this.#emitted.get(bound.stream) !== last.seq) {
          this.#emitted.set(bound.stream, last.seq)
          this.#sink.state(bound.stream, last, Number(this.#lastId ?? 0), undefined)
        }
        this.#ended.add(bound.stream)
        return this.#ended.size === this.#streams.length ? 'ended' : 'none'
      }
      case LIVE_EVENTS.clock: {
        const tick = JSON.parse(event.data) as ClockTick
        // A clock comes only after the initial data (the first ends it, with the id a resume gives):
        // every stream is at its head as of its gpos.
        this.#remember(event.id)
        this.#announce(tick.gpos)
        this.#complete = true
        this.#sink.clock({ gpos: tick.gpos, ts: tick.ts })
        return 'synced'
      }
      default:
        return 'none'
    }
  }

  closed(): void {
    if (!this.#tailing) return
    this.#tailing = false
    for (const name of this.#streams) this.#stores(name).untailed()
  }

  gone(err: unknown): boolean {
    // A held window refused (the answer's 410): which stream is another history now is found out
    // before connecting again. Any other end: which stream went is not said; each stream's own
    // cursor finds out for itself.
    if (!this.#named || (err as { status?: unknown }).status !== 410) return false
    this.#recheck = true
    return true
  }

  /** Emits the held states not emitted yet as current at `gpos`: no entry of theirs came before it. */
  #announce(gpos: number): void {
    for (const name of [...this.#unannounced]) this.#current(name, gpos)
  }

  /** Emits `stream`'s head as its current state at `gpos`, unless it was emitted already. */
  #current(stream: string, gpos: number): void {
    this.#unannounced.delete(stream)
    const head = this.#stores(stream).index.head()
    if (head === undefined || this.#emitted.get(stream) === head.seq) return
    this.#emitted.set(stream, head.seq)
    this.#sink.state(stream, head, gpos, undefined)
  }

  #remember(id: string | undefined): void {
    if (id !== undefined && id !== '') this.#lastId = id
  }

}
