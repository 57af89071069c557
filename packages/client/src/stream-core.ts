/**
 * Everything a client holds for one stream name: its window store, its writer, its connection
 * status and its one live cursor. Handles (`client.stream(name)`) are thin and look their core up
 * on every call; a core nobody uses and that holds nothing is let go of by the client.
 */
import type { Entry, Json, Snapshot } from '@statestream/common'
import { BehaviorSubject, Observable, defer, share, startWith } from 'rxjs'
import type { MemoryBudget } from './core/budget.ts'
import { LiveStatus } from './core/connection-machine.ts'
import { SingleCodec } from './io/single-codec.ts'
import { TailDriver } from './io/tail.ts'
import type { TailOptions } from './io/tail.ts'
import { retrying } from './io/retry.ts'
import type { JsonResponse, RequestOptions, Transport } from './io/transport.ts'
import { WindowFetcher } from './io/window-fetcher.ts'
import { IdempotentProducer } from './producer.ts'
import type { ProducerOptions } from './producer.ts'
import { WindowStore } from './window-store.ts'

/** One emission of a live cursor: the state after entry `seq`; `entry` is the change, if any. */
export interface LiveState<S = Json> {
  seq: number
  ts: number
  state: S
  /** The entry that made this state; absent on the first emission (the current state). */
  entry?: Entry
}

/** What a core needs from its client. */
export interface CoreOptions {
  transport: Transport
  budget: MemoryBudget
  live: TailOptions
  producer: ProducerOptions
  fetchAttempts: number
  /** Registers something to end on `client.close()`; returns its unregistration. */
  track: (end: () => void) => () => void
  /** Called whenever the core may have become unused. */
  idle: () => void
}

export class StreamCore {
  readonly name: string
  readonly store: WindowStore
  readonly producer: IdempotentProducer
  readonly status$ = new BehaviorSubject<LiveStatus>(LiveStatus.closed)
  /** The shared live cursor (see `StateStream.live$`). */
  readonly live$: Observable<LiveState>
  readonly transport: Transport
  readonly #options: CoreOptions
  /** The cursor's current state, once it has one (for late subscribers). */
  #current: LiveState | undefined
  #users = 0

  constructor(name: string, options: CoreOptions) {
    this.name = name
    this.#options = options
    this.transport = options.transport
    const { transport } = options
    const fetcher = new WindowFetcher(transport, name, { attempts: options.fetchAttempts, backoff: options.live.backoff })
    this.store = new WindowStore(fetcher, options.budget, (view, removed) =>
      transport.trace({ type: 'window', stream: name, status: removed ? 'removed' : view.status, start: view.start?.seq ?? null, end: view.end?.seq ?? null }),
    )
    this.producer = new IdempotentProducer(transport, name, options.producer)
    const shared$ = new Observable<LiveState>((subscriber) => {
      const emit = (head: Snapshot, entry: Entry | undefined): void => {
        // A late subscriber starts from this as the current state: without the entry that made it.
        this.#current = { seq: head.seq, ts: head.ts, state: head.state }
        const value: LiveState = { ...this.#current }
        if (entry !== undefined) value.entry = entry
        subscriber.next(value)
      }
      const driver = new TailDriver(
        transport,
        new SingleCodec(name, this.store, transport, emit),
        options.live,
        this.status$,
        (err) => subscriber.error(err),
        // A closed stream: its final state was emitted, and nothing follows.
        () => subscriber.complete(),
      )
      const release = this.use()
      const untrack = options.track(() => subscriber.complete())
      driver.start()
      return () => {
        this.#current = undefined
        untrack()
        driver.stop()
        release()
      }
    }).pipe(share({ resetOnError: true, resetOnComplete: true, resetOnRefCountZero: true }))
    // A late subscriber first gets the current state; nothing can come in between, since taking it
    // and joining the shared cursor happen in one synchronous step.
    this.live$ = defer(() => {
      const current = this.#current
      return current === undefined ? shared$ : shared$.pipe(startWith({ ...current }))
    })
  }

  /** True when nobody uses it and it holds nothing: it may go. */
  get idle(): boolean {
    return this.#users === 0 && this.store.idle
  }

  /** Marks the core in use until the returned function is called. */
  /** Registers `end` to be called on `client.close()`; returns its unregistration. */
  track(end: () => void): () => void {
    return this.#options.track(end)
  }

  use(): () => void {
    this.#users += 1
    let done = false
    return () => {
      if (done) return
      done = true
      this.#users -= 1
      if (this.#users === 0) this.#options.idle()
    }
  }

  /** One request through the retry policy (reads and idempotent writes only); `tries.attempts` counts its attempts. */
  request<T>(path: string, options: RequestOptions = {}, tries = { attempts: 0 }): Promise<JsonResponse<T>> {
    return retrying(
      this.transport,
      () => {
        tries.attempts += 1
        return this.transport.json<T>(path, options)
      },
      { attempts: this.#options.fetchAttempts, backoff: this.#options.live.backoff, signal: options.signal },
    )
  }

  /** Runs `call` with the core in use. */
  async using<T>(call: () => Promise<T>): Promise<T> {
    const release = this.use()
    try {
      return await call()
    } finally {
      release()
    }
  }
}
