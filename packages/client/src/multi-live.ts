/**
 * `client.live([a, b, …])`: several state streams tailed over one connection, with the
 * server-wide clock (`io/multi-codec.ts` says what goes over it). Each stream's first value is its
 * current state; then come its entries, gpos never decreasing across streams.
 */
import type { Entry, Json, Snapshot } from '@statestream/common'
import { BehaviorSubject, Observable, defer, filter, map, share, startWith } from 'rxjs'
import { LiveStatus } from './core/connection-machine.ts'
import { MultiCodec } from './io/multi-codec.ts'
import type { ClockTick } from './io/multi-codec.ts'
import { TailDriver } from './io/tail.ts'
import type { TailOptions } from './io/tail.ts'
import type { Transport } from './io/transport.ts'
import type { LiveState, StreamCore } from './stream-core.ts'

/** One change of one of the streams: the state after entry `seq` of `stream`. */
export interface MultiLiveState<S = Json> extends LiveState<S> {
  stream: string
  /** Global position of the entry (or of the read that gave the first state). */
  gpos: number
}

type MultiEvent<S> = { type: 'state'; value: MultiLiveState<S> } | { type: 'clock'; value: ClockTick }

/** Several live streams over one shared connection. */
export class MultiLive<S = Json> {
  /** The streams tailed, in the order given. */
  readonly streams: readonly string[]
  /**
   * Every change of every stream, gpos never decreasing: each stream's first value is its current
   * state (no `entry`), then comes each of its entries. Shared: one connection however many
   * subscribers (of this and of `clock$`).
   */
  readonly states$: Observable<MultiLiveState<S>>
  /** The server-wide clock: how far the whole server has advanced. */
  readonly clock$: Observable<ClockTick>
  readonly #status$ = new BehaviorSubject<LiveStatus>(LiveStatus.closed)
  /** Each stream's current state, kept by the open connection. */
  readonly #current = new Map<string, MultiLiveState<S>>()

  constructor(transport: Transport, streams: readonly string[], cores: (name: string) => StreamCore, options: TailOptions, track: (end: () => void) => () => void) {
    this.streams = [...streams]
    const events$ = new Observable<MultiEvent<S>>((subscriber) => {
      this.#current.clear()
      const held = this.streams.map((name) => cores(name))
      const releases = held.map((core) => core.use())
      const sink = {
        state: (stream: string, head: Snapshot, gpos: number, entry: Entry | undefined): void => {
          const value: MultiLiveState<S> = { stream, gpos, seq: head.seq, ts: head.ts, state: head.state as S }
          // A late subscriber starts from this as the current state: without the entry that made it.
          this.#current.set(stream, { ...value })
          if (entry !== undefined) value.entry = entry
          subscriber.next({ type: 'state', value })
        },
        clock: (tick: ClockTick): void => subscriber.next({ type: 'clock', value: tick }),
      }
      const byName = new Map(held.map((core) => [core.name, core.store]))
      const codec = new MultiCodec(this.streams, (name) => byName.get(name) as StreamCore['store'], transport, sink)
      const driver = new TailDriver(transport, codec, options, this.#status$, (err) => subscriber.error(err), () => subscriber.complete())
      const untrack = track(() => subscriber.complete())
      driver.start()
      return () => {
        untrack()
        driver.stop()
        for (const release of releases) release()
      }
    }).pipe(share({ resetOnRefCountZero: true }))
    // A late subscriber first gets each stream's current state; nothing can arrive in between,
    // since reading the states and joining the shared connection happen in one synchronous step.
    this.states$ = defer(() =>
      events$.pipe(
        filter((event): event is Extract<MultiEvent<S>, { type: 'state' }> => event.type === 'state'),
        map((event) => event.value),
        startWith(...this.#current.values()),
      ),
    )
    this.clock$ = events$.pipe(
      filter((event): event is Extract<MultiEvent<S>, { type: 'clock' }> => event.type === 'clock'),
      map((event) => event.value),
    )
  }

  /** Status of the shared connection. */
  get status$(): Observable<LiveStatus> {
    return this.#status$.asObservable()
  }
}

export type { ClockTick }
