/**
 * The codec of `/v1/live/<name>`: one stream. A fresh connection gets `event: window` (the open
 * window) first; a connection made while the open window is held resumes with `?after=` its last
 * entry and `&window=` that window's start, and gets only what is new. The server refuses such a
 * resume (`410`) when the held window is not one of the stream's (it was deleted and created
 * again meanwhile): what is held goes, and the codec connects afresh, whose window's head is then
 * the current state. Each event feeds the stream's window store, whose index holds the one head;
 * the cursor emits that head: first when the connection is synced, then per entry. A closed
 * stream's final `bound` (`"closed":true`) ends the tail: the last window is committed, its final
 * state emitted if it was not, and the cursor completes.
 */
import { ErrorCode, LIVE_EVENTS, QUERY, ROUTES, StateStreamError } from '@statestream/common'
import type { Bound, Entry, Snapshot, WindowData } from '@statestream/common'
import { headOf } from '../core/sharing.ts'
import type { SseEvent } from './sse.ts'
import type { EventOutcome, TailCodec } from './tail.ts'
import type { Transport } from './transport.ts'
import type { WindowStore } from '../window-store.ts'

/** Told of the head: the current state (no entry) once synced, then each change with its entry. */
export type HeadSink = (head: Snapshot, entry: Entry | undefined) => void

export class SingleCodec implements TailCodec {
  readonly label: string
  readonly #store: WindowStore
  readonly #transport: Transport
  readonly #emit: HeadSink
  /** Seq of the last head emitted; `undefined` before the first. */
  #emitted: number | undefined
  /** Whether the last request resumed, naming the held window: a refusal of it means another history. */
  #resumed = false
  #tailing = false

  constructor(name: string, store: WindowStore, transport: Transport, emit: HeadSink) {
    this.label = name
    this.#store = store
    this.#transport = transport
    this.#emit = emit
  }

  /**
   * Before the first value: a held open window that is behind the head is caught up (only its
   * new entries; the answer's start tells whether the held window is still the stream's). A
   * reconnection needs nothing first: the server checks the held window as it resumes.
   */
  async prepare(): Promise<void> {
    // A failure from here on is not a refusal of the held window.
    this.#resumed = false
    if (this.#emitted === undefined) return this.#store.catchUp()
  }

  request(): { path: string } {
    const open = this.#store.index.open
    this.#resumed = open !== undefined
    if (open === undefined) return { path: `${ROUTES.live}${this.label}` }
    const { seq, ts } = open.model.start
    return { path: `${ROUTES.live}${this.label}?${QUERY.after}=${headOf(open).seq}&${QUERY.window}=${seq}.${ts}` }
  }

  opened(): boolean {
    if (!this.#resumed) return false
    // Resuming what is held (brought up to date before the first connection): current already.
    this.#tail()
    this.#announce()
    return true
  }

  event(event: SseEvent): EventOutcome {
    switch (event.event) {
      case LIVE_EVENTS.window: {
        const data = JSON.parse(event.data) as WindowData
        this.#store.liveWindow(data, event.data.length)
        this.#transport.traceEntries(this.label, 'live', data.entries)
        this.#tail()
        this.#announce()
        return 'synced'
      }
      case LIVE_EVENTS.entry: {
        const entry = JSON.parse(event.data) as Entry
        const head = this.#store.index.head()
        if (head === undefined) throw new StateStreamError(ErrorCode.NETWORK, 'an entry came before the window')
        if (entry.seq <= head.seq) return 'none'
        if (entry.seq !== head.seq + 1) throw new StateStreamError(ErrorCode.NETWORK, `entry ${entry.seq} skips entries after ${head.seq}; resuming`)
        const next = this.#store.liveEntry({ seq: entry.seq, ts: entry.ts, m: entry.m }, event.data.length)
        this.#transport.traceEntries(this.label, 'live', [entry])
        this.#emitted = next.seq
        this.#emit(next, entry)
        return 'progress'
      }
      case LIVE_EVENTS.bound: {
        const bound = JSON.parse(event.data) as Bound & { closed?: boolean }
        if (bound.closed !== true) {
          this.#store.liveBound(bound)
          return 'none'
        }
        // The stream is closed: its last window ends here, and its final state is the current one.
        const last = this.#store.liveEnd({ seq: bound.seq, ts: bound.ts })
        if (last !== undefined && last.seq !== this.#emitted) {
          this.#emitted = last.seq
          this.#emit(last, undefined)
        }
        return 'ended'
      }
      default:
        // Heartbeats (and anything newer than this client) only keep the watchdog quiet.
        return 'none'
    }
  }

  closed(): void {
    if (!this.#tailing) return
    this.#tailing = false
    this.#store.untailed()
  }

  gone(err: unknown): boolean {
    // What is held of a deleted stream must not mix with a stream later made under its name.
    this.#store.clear()
    // The server refused the held window (the answer's 410, not an in-band end): the name is
    // another stream's now, to be read afresh. Emitted again from its head, as current.
    if (!this.#resumed || (err as { status?: unknown }).status !== 410) return false
    this.#emitted = undefined
    return true
  }

  /** This connection feeds the open window: it is live while it lasts. */
  #tail(): void {
    if (this.#tailing) return
    this.#tailing = true
    this.#store.tailed()
  }

  /** Emits the head as the current state, unless subscribers have it already. */
  #announce(): void {
    const head = this.#store.index.head()
    if (head === undefined || head.seq === this.#emitted) return
    this.#emitted = head.seq
    this.#emit(head, undefined)
  }

}
