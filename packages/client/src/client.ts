/**
 * The client of one statestream server, whatever the platform: it owns the transport, the one
 * memory budget of every stream it holds, the state of each stream name in use (let go of once
 * nothing uses it and it holds nothing), and ends every live subscription on `close()`. The Node
 * and browser entries (`index.ts`, `browser.ts`) give it its `fetch`.
 */
import { ErrorCode, QUERY, ROUTES, StateStreamError, assertStreamName } from '@statestream/common'
import type { Bound, Json, Snapshot } from '@statestream/common'
import { MemoryBudget } from './core/budget.ts'
import type { BackoffOptions } from './core/backoff.ts'
import { DEFAULT_WATCHDOG_MS } from './io/tail.ts'
import type { TailOptions } from './io/tail.ts'
import { retrying } from './io/retry.ts'
import { Transport } from './io/transport.ts'
import type { ErrorHandler, FetchLike, HeadersOption, RequestOptions, TraceEvent } from './io/transport.ts'
import { LogStream } from './log-stream.ts'
import { MultiLive } from './multi-live.ts'
import { StateStream, assertTime } from './state-stream.ts'
import type { CallOptions } from './state-stream.ts'
import { StreamCore } from './stream-core.ts'
import { readStreamPage } from './stream-info.ts'
import type { ListOptions, StreamListing, StreamPage } from './stream-info.ts'

/** How many creation bounds of streams let go of the client remembers. */
const MAX_CREATED = 10_000

/** Options of a client, in Node and in browsers alike. */
export interface ClientOptions {
  /** The server, e.g. `http://127.0.0.1:4437` (a path prefix is kept). */
  baseUrl: string
  /**
   * Headers of every request (e.g. `{ authorization: 'Bearer …' }`): fixed values, or a function,
   * possibly async, called before every request and every reconnect (so a renewed token is used).
   */
  headers?: HeadersOption
  /**
   * Told of an error about to reach the caller (not of failures retried by backoff). Returning
   * headers (an object, possibly empty) retries the call with them on top of `headers`, kept for
   * later requests too: a token refresh. Returning nothing lets the error through.
   */
  onError?: ErrorHandler
  /** The `fetch` to send requests with. Default: undici's `request` in Node (on `dispatcher`), the global `fetch` in browsers. */
  fetch?: FetchLike
  /** Silence after which a live connection is presumed dead, ms. Keep it above the server's heartbeat interval. Default 45,000. */
  watchdogMs?: number
  /**
   * Silence after which any other request is presumed dead, ms: no answer, or a pause in its body,
   * this long (a connection the network dropped without a word). It then fails as `NETWORK` and is
   * retried like any dropped connection; a window cut short keeps what came. Default 30,000; 0
   * waits for ever.
   */
  stallTimeoutMs?: number
  /** Reconnection and retry backoff (jittered exponential). Default 100 ms initial, 10 s max. */
  backoff?: BackoffOptions
  /** Attempts per append before it fails on retryable errors. Default 6. */
  appendAttempts?: number
  /** Attempts per read (and per create, set or delete) before it fails on retryable errors. Default 6. */
  fetchAttempts?: number
  /** Memory budget of the held windows of all streams together, bytes. Default 64 MiB. */
  maxBytes?: number
  /** Window fetches one `history()` runs at once. Default 4. */
  historyConcurrency?: number
  /** Told of requests, entries received, window statuses and connection status (for logs, demos, tests). */
  trace?: (event: TraceEvent) => void
}

/** What a platform gives the client: its `fetch`, and how to let go of what that holds. */
export interface Platform {
  fetch: FetchLike
  close?: () => Promise<void>
}

/** What a client holds, for diagnostics. */
export interface ClientStats {
  /** Stream names with state held (windows, a live cursor, a call under way). */
  streams: number
  /** Windows held, across streams. */
  windows: number
  /** Estimated bytes of the held windows, across streams. */
  bytes: number
  /** The memory budget. */
  maxBytes: number
}

/** A client of one statestream server. */
export class Client {
  readonly #transport: Transport
  readonly #platform: Platform
  readonly #options: ClientOptions
  readonly #live: TailOptions
  readonly #budget: MemoryBudget
  readonly #cores = new Map<string, StreamCore>()
  readonly #subscribers = new Set<() => void>()
  /** Creation bounds of streams let go of (a bounded LRU): "before creation" stays known without a request. */
  readonly #created = new Map<string, Bound>()
  #swept = 0
  #closed = false

  constructor(options: ClientOptions, platform: Platform) {
    this.#options = options
    this.#platform = platform
    this.#transport = new Transport({
      baseUrl: options.baseUrl,
      fetch: platform.fetch,
      headers: options.headers,
      onError: options.onError,
      trace: options.trace,
      stallMs: options.stallTimeoutMs,
    })
    this.#live = { watchdogMs: options.watchdogMs ?? DEFAULT_WATCHDOG_MS, backoff: options.backoff }
    this.#budget = new MemoryBudget(options.maxBytes)
  }

  /** The handle of stream `name`. Handles are cheap: every handle of one name shares one store and one live cursor. */
  stream<S = Json>(name: string): StateStream<S> {
    this.#assertOpen()
    assertStreamName(name)
    return new StateStream<S>(name, () => this.#core(name), this.#options.historyConcurrency ?? 4)
  }

  /** The handle of stream `name` as a plain Durable Streams log (any kind): its bytes or JSON messages, as the protocol serves them. */
  log(name: string): LogStream {
    this.#assertOpen()
    return new LogStream(name, this.#transport, { attempts: this.#options.fetchAttempts ?? 6, backoff: this.#live.backoff })
  }

  /** Several streams tailed over one connection, with the server-wide gpos clock. */
  live<S = Json>(names: readonly string[]): MultiLive<S> {
    this.#assertOpen()
    if (names.length === 0) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'live() needs at least one stream')
    for (const name of names) assertStreamName(name)
    return new MultiLive<S>(this.#transport, names, (name) => this.#core(name), this.#live, (end) => this.#track(end))
  }

  /**
   * Each stream's state at the same time `ts`: the seed's "grouper" lining up many sources. A
   * stream that did not exist yet at `ts`, or does not exist at all, maps to `undefined`. Every
   * name is checked before any request is made; held windows answer without requests.
   */
  async statesAt<S = Json>(names: readonly string[], ts: number, options: CallOptions = {}): Promise<Record<string, S | undefined>> {
    const snapshots = await this.snapshotsAt<S>(names, ts, options)
    return Object.fromEntries(names.map((name) => [name, snapshots[name]?.state]))
  }

  /** Like `statesAt`, with the seq and ts of the last entry each state includes. */
  async snapshotsAt<S = Json>(names: readonly string[], ts: number, options: CallOptions = {}): Promise<Record<string, Snapshot<S> | undefined>> {
    assertTime('ts', ts)
    // A bad name refuses the call before anything is sent, so no request is left to fail unseen.
    const streams = names.map((name) => this.stream<S>(name))
    const snapshots = await Promise.all(
      streams.map((stream) =>
        stream.snapshotAt(ts, options).catch((err: unknown) => {
          if ((err as { code?: unknown }).code === ErrorCode.STREAM_NOT_FOUND) return undefined
          throw err
        }),
      ),
    )
    return Object.fromEntries(names.map((name, i) => [name, snapshots[i]]))
  }

  /**
   * Each stream's state at global position `gpos` (`GET /v1/state?gpos=`): after its last entry at
   * or below it, as a live reader at that position saw it (seq 0 when it had none yet); `undefined`
   * for a stream that does not exist. With a gpos a multiplexed live connection reported (an
   * entry's, or a clock tick's), the states line up exactly as that reader saw them.
   */
  async snapshotsAtGpos<S = Json>(names: readonly string[], gpos: number, options: CallOptions = {}): Promise<Record<string, Snapshot<S> | undefined>> {
    this.#assertOpen()
    for (const name of names) assertStreamName(name)
    if (!Number.isSafeInteger(gpos) || gpos < 0) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `a gpos is a non-negative integer, got ${String(gpos)}`)
    const snapshots = await Promise.all(
      names.map((name) =>
        this.#request<Snapshot<S>>(`${ROUTES.state}${name}?${QUERY.gpos}=${gpos}`, { signal: options.signal }).then(
          (response) => response.body,
          (err: unknown) => {
            if ((err as { code?: unknown }).code === ErrorCode.STREAM_NOT_FOUND) return undefined
            throw err
          },
        ),
      ),
    )
    return Object.fromEntries(names.map((name, i) => [name, snapshots[i]]))
  }

  /** One page of the server's streams, in name order; pass its `next` as `cursor` for the page after it. */
  async streams(options: ListOptions = {}): Promise<StreamPage> {
    this.#assertOpen()
    return readStreamPage((path, init) => this.#request(path, init), options)
  }

  /** Every stream (whose name starts with `prefix`), in name order, page after page as they are read. */
  async *listStreams(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<StreamListing> {
    let cursor: string | undefined
    do {
      const page = await this.streams({ ...options, ...(cursor !== undefined && { cursor }) })
      yield* page.streams
      cursor = page.next ?? undefined
    } while (cursor !== undefined)
  }

  /** What the client holds now. */
  stats(): ClientStats {
    this.#sweep()
    let windows = 0
    for (const core of this.#cores.values()) windows += core.store.index.held.length
    return { streams: this.#cores.size, windows, bytes: this.#budget.bytes, maxBytes: this.#budget.maxBytes }
  }

  /** Ends every live subscription (they complete) and lets go of what the platform holds (Node: the dispatcher the client made). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const end of [...this.#subscribers]) end()
    this.#transport.close()
    await this.#platform.close?.()
  }

  #core(name: string): StreamCore {
    this.#assertOpen()
    let core = this.#cores.get(name)
    if (core === undefined) {
      // Now and then, let go of the streams other streams' windows pushed out of the budget.
      if (this.#cores.size >= 2 * this.#swept + 16) this.#sweep()
      const made: StreamCore = new StreamCore(name, {
        transport: this.#transport,
        budget: this.#budget,
        live: this.#live,
        producer: { attempts: this.#options.appendAttempts ?? 6, backoff: this.#options.backoff },
        fetchAttempts: this.#options.fetchAttempts ?? 6,
        track: (end) => this.#track(end),
        idle: () => this.#letGo(made),
      })
      core = made
      const created = this.#created.get(name)
      if (created !== undefined) core.store.index.created = created
      this.#cores.set(name, core)
    }
    return core
  }

  /** Drops `core` if nobody uses it and it holds nothing. */
  #letGo(core: StreamCore): void {
    if (!core.idle || this.#cores.get(core.name) !== core) return
    this.#cores.delete(core.name)
    core.store.detach()
    const created = core.store.index.created
    this.#created.delete(core.name)
    if (created !== undefined) this.#created.set(core.name, created)
    if (this.#created.size > MAX_CREATED) this.#created.delete(this.#created.keys().next().value as string)
  }

  #sweep(): void {
    for (const core of [...this.#cores.values()]) this.#letGo(core)
    this.#swept = this.#cores.size
  }

  #track(end: () => void): () => void {
    this.#subscribers.add(end)
    return () => this.#subscribers.delete(end)
  }

  /** A JSON request of the client's own, through the one retry policy. */
  #request<T>(path: string, init: RequestOptions = {}) {
    return retrying(this.#transport, () => this.#transport.json<T>(path, init), { attempts: this.#options.fetchAttempts ?? 6, backoff: this.#live.backoff, signal: init.signal })
  }

  #assertOpen(): void {
    if (this.#closed) throw new StateStreamError(ErrorCode.CLOSED, 'the client is closed')
  }
}
