/**
 * `StateStreamClient`: the entry point. It owns the HTTP dispatcher (unless one is injected), one
 * handle per stream name (so every `live$` of a stream is the same shared cursor), and ends every
 * live subscription on `close()`.
 */
import { ErrorCode, StateStreamError } from '@statestream/common'
import type { Json, Snapshot } from '@statestream/common'
import { Agent } from 'undici'
import type { Dispatcher } from 'undici'
import type { BackoffOptions } from './backoff.ts'
import { HttpClient } from './http.ts'
import type { ErrorHandler, HeadersOption, RequestOptions, TraceEvent } from './http.ts'
import { DEFAULT_WATCHDOG_MS } from './live-tail.ts'
import type { LiveOptions } from './live-tail.ts'
import { MultiLive } from './multi-live.ts'
import { retrying } from './retry.ts'
import { StateStream } from './state-stream.ts'
import { readStreamPage } from './stream-info.ts'
import type { ListOptions, StreamListing, StreamPage } from './stream-info.ts'
import type { CallOptions } from './state-stream.ts'

/** Options of a `StateStreamClient`. */
export interface StateStreamClientOptions {
  /** The server, e.g. `http://127.0.0.1:4437` (a path prefix is kept). */
  baseUrl: string
  /** undici dispatcher for every request. Default: an `Agent` the client owns and closes. */
  dispatcher?: Dispatcher
  /**
   * Headers of every request (e.g. `{ authorization: 'Bearer …' }`): fixed values, or a function,
   * possibly async, called before every request and every reconnect (so a renewed token is used).
   */
  headers?: HeadersOption
  /**
   * Told of an error that is about to reach the caller (not of failures retried by backoff).
   * Returning headers (an object, possibly empty) retries the call with them on top of `headers`,
   * kept for later requests too: a token refresh. Returning nothing lets the error through.
   */
  onError?: ErrorHandler
  /** Silence after which a live connection is presumed dead, ms. Keep it above the server's heartbeat interval. Default 45,000. */
  watchdogMs?: number
  /** Reconnection and retry backoff (full jitter). Default 100 ms initial, 10 s max. */
  backoff?: BackoffOptions
  /** Attempts per append before it fails on network errors. Default 6. */
  appendAttempts?: number
  /** Attempts per window fetch before it fails on network errors. Default 6. */
  fetchAttempts?: number
  /** Memory budget of each stream's committed windows, bytes. Default 64 MiB. */
  maxWindowBytes?: number
  /** Window fetches one `history()` runs at once. Default 4. */
  historyConcurrency?: number
  /** Told of requests, entries received, window states and connection status (for logs, demos, tests). */
  trace?: (event: TraceEvent) => void
}

/** A client of one statestream server. */
export class StateStreamClient {
  readonly #http: HttpClient
  readonly #owned: Agent | undefined
  readonly #options: StateStreamClientOptions
  readonly #live: LiveOptions
  readonly #streams = new Map<string, StateStream<unknown>>()
  readonly #subscribers = new Set<() => void>()
  #closed = false

  constructor(options: StateStreamClientOptions) {
    this.#options = options
    this.#owned = options.dispatcher === undefined ? new Agent({ keepAliveTimeout: 10_000 }) : undefined
    this.#http = new HttpClient(options.baseUrl, options.dispatcher ?? (this.#owned as Agent), {
      trace: options.trace,
      headers: options.headers,
      onError: options.onError,
    })
    this.#live = { watchdogMs: options.watchdogMs ?? DEFAULT_WATCHDOG_MS, backoff: options.backoff ?? {} }
  }

  /** The handle of stream `name` (the same object for the same name). */
  stream<S = Json>(name: string): StateStream<S> {
    this.#assertOpen()
    let stream = this.#streams.get(name)
    if (stream === undefined) {
      stream = new StateStream<unknown>(this.#http, name, {
        live: this.#live,
        producer: {
          ...(this.#options.appendAttempts !== undefined && { attempts: this.#options.appendAttempts }),
          ...(this.#options.backoff !== undefined && { backoff: this.#options.backoff }),
        },
        ...(this.#options.maxWindowBytes !== undefined && { maxWindowBytes: this.#options.maxWindowBytes }),
        historyConcurrency: this.#options.historyConcurrency ?? 4,
        fetchAttempts: this.#options.fetchAttempts ?? 6,
        track: (end) => this.#track(end),
      })
      this.#streams.set(name, stream)
    }
    return stream as StateStream<S>
  }

  /** Several streams tailed over one connection, with the server-wide gpos clock. */
  live<S = Json>(names: readonly string[]): MultiLive<S> {
    this.#assertOpen()
    if (names.length === 0) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'live() needs at least one stream')
    for (const name of names) this.stream(name)
    return new MultiLive<S>(this.#http, names, (name) => this.stream(name).storeOf(), this.#live, (end) => this.#track(end))
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
    this.#assertOpen()
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

  /** One page of the server's streams, in name order; pass its `next` as `cursor` for the page after it. */
  streams(options: ListOptions = {}): Promise<StreamPage> {
    this.#assertOpen()
    const request = <T>(path: string, init: RequestOptions = {}) =>
      retrying(() => this.#http.json<T>(path, init), { attempts: this.#options.fetchAttempts ?? 6, backoff: this.#live.backoff, signal: init.signal })
    return readStreamPage(request, options)
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

  /** Ends every live subscription (they complete) and closes the dispatcher the client owns. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const end of [...this.#subscribers]) end()
    await this.#owned?.close()
  }

  #track(end: () => void): () => void {
    this.#subscribers.add(end)
    return () => this.#subscribers.delete(end)
  }

  #assertOpen(): void {
    if (this.#closed) throw new StateStreamError(ErrorCode.CLOSED, 'the client is closed')
  }
}
