/**
 * The one tail loop: a live connection driven by the connection machine
 * (`core/connection-machine.ts`), reading SSE and handing each event to a codec (one for
 * `/v1/live/<name>`, one for the multiplexed `/v1/live?stream=…`). The driver only carries out
 * the machine's effects: open a connection, wait out a backoff, arm the health timer, report a
 * refusal, close. What an event means, and where a connection resumes, is the codec's.
 */
import { ErrorCode, LIVE_EVENTS, StateStreamError } from '@statestream/common'
import type { BehaviorSubject } from 'rxjs'
import { HEALTHY_AFTER_MS, classify, retryAfterMs } from '../core/backoff.ts'
import type { BackoffOptions } from '../core/backoff.ts'
import { LiveStatus, step } from '../core/connection-machine.ts'
import type { Connection, ConnectionEvent, Effect } from '../core/connection-machine.ts'
import { inBandError, toNetworkError } from './answer-errors.ts'
import { readSse } from './sse.ts'
import type { SseEvent } from './sse.ts'
import type { Transport } from './transport.ts'

/**
 * What an event did for the connection. `ended`: the stream (every stream of the connection) is
 * closed and all of it was received: nothing more will ever come, so the tail ends for good.
 */
export type EventOutcome = 'synced' | 'progress' | 'ended' | 'none'

/** A live route's codec: where to connect, and what each event means. */
export interface TailCodec {
  /** Names the connection in traces. */
  readonly label: string
  /** Work before each connection (held data brought up to date); a failure counts as the connection's. */
  prepare?(signal: AbortSignal): Promise<void>
  /** The request of the next connection, resuming from what is held. */
  request(): { path: string; headers?: Record<string, string> }
  /** The answer arrived; `true` when nothing more is needed for the initial data (a resume). */
  opened(): boolean
  /** One event; throws to drop the connection (an in-band error, data that does not follow). */
  event(event: SseEvent): EventOutcome
  /** The connection ended (dropped, refused or stopped). */
  closed(): void
  /**
   * The stream (or one of the streams) is gone: what is held of it must go. `true` when the
   * refusal was of what was held alone (the name is another stream's now): connect afresh.
   */
  gone(err: unknown): boolean
}

/** Settings of live tails. */
export interface TailOptions {
  /** Silence (no byte, not even a heartbeat) after which a connection is presumed dead, ms. */
  watchdogMs: number
  backoff?: BackoffOptions | undefined
}

/** Default watchdog: three of the server's default 15 s heartbeats. */
export const DEFAULT_WATCHDOG_MS = 45_000

/**
 * Reconnects in a row, without a healthy connection in between, after the server ended a
 * connection in-band because its token expired: `headers` is read again for each, so a renewed
 * token resumes the tail; a token that stays refused ends in the answer's `401` after that many.
 */
export const EXPIRED_TOKEN_RECONNECTS = 1

export class TailDriver {
  readonly #transport: Transport
  readonly #codec: TailCodec
  readonly #options: TailOptions
  readonly #status$: BehaviorSubject<LiveStatus>
  readonly #onFail: (err: unknown) => void
  readonly #onEnd: () => void
  readonly #abort = new AbortController()
  #state: Connection = { status: 'closed' }
  #timer: ReturnType<typeof setTimeout> | undefined
  #health: ReturnType<typeof setTimeout> | undefined
  #failure: unknown
  #recoveries = 0
  /** Reconnects since the last healthy connection after an in-band `UNAUTHORIZED`. */
  #expiredReconnects = 0

  /** `onFail`: a refusal ends the tail; `onEnd`: the stream was closed, the tail is over. */
  constructor(
    transport: Transport,
    codec: TailCodec,
    options: TailOptions,
    status$: BehaviorSubject<LiveStatus>,
    onFail: (err: unknown) => void,
    onEnd: () => void = () => undefined,
  ) {
    this.#transport = transport
    this.#codec = codec
    this.#options = options
    this.#status$ = status$
    this.#onFail = onFail
    this.#onEnd = onEnd
  }

  start(): void {
    this.#dispatch({ type: 'start' })
  }

  stop(): void {
    this.#dispatch({ type: 'stop' })
  }

  #dispatch(event: ConnectionEvent): void {
    if (this.#abort.signal.aborted) return
    if (event.type === 'progress' || event.type === 'healthy') this.#expiredReconnects = 0
    const { state, effect } = step(this.#state, event, this.#options.backoff)
    this.#state = state
    this.#setStatus(state.status)
    this.#carryOut(effect)
  }

  #carryOut(effect: Effect): void {
    switch (effect.type) {
      case 'open':
        void this.#connect()
        return
      case 'wait':
        clearTimeout(this.#health)
        this.#timer = setTimeout(() => this.#dispatch({ type: 'elapsed' }), effect.ms)
        return
      case 'arm':
        this.#recoveries = 0
        clearTimeout(this.#health)
        this.#health = setTimeout(() => this.#dispatch({ type: 'healthy' }), HEALTHY_AFTER_MS)
        return
      case 'fail':
        this.#close()
        this.#onFail(this.#failure)
        return
      case 'close':
        this.#close()
        return
      case 'none':
        return
    }
  }

  /** One connection, until it ends or fails; then the machine decides what comes next. */
  async #connect(): Promise<void> {
    const signal = this.#abort.signal
    let failure: unknown
    try {
      await this.#codec.prepare?.(signal)
      const { path, headers } = this.#codec.request()
      // Its silences are the watchdog's to judge (heartbeats), not the request's stall timer.
      const response = await this.#transport.send(path, { headers: { accept: 'text/event-stream', ...headers }, signal, stallMs: 0 })
      if (response.body === null) throw new StateStreamError(ErrorCode.NETWORK, 'the live answer has no body')
      this.#dispatch({ type: 'opened' })
      if (this.#codec.opened()) this.#dispatch({ type: 'synced' })
      await readSse(response.body, (event) => this.#event(event), this.#options.watchdogMs)
      failure = new StateStreamError(ErrorCode.NETWORK, 'the server ended the live connection')
    } catch (err) {
      // Socket errors arrive raw from the body stream: every failure is judged by its code.
      failure = toNetworkError(err)
    }
    this.#codec.closed()
    if (signal.aborted) return
    const kind = classify(failure)
    if (kind === 'retry') {
      const floorMs = retryAfterMs(failure, Date.now()) ?? 0
      return this.#dispatch({ type: 'dropped', random: (this.#options.backoff?.random ?? Math.random)(), floorMs })
    }
    // A refusal (a token that expired, in-band or not): `onError` may give new headers.
    if (kind === 'refused' && (await this.#transport.recover(failure, this.#recoveries))) {
      this.#recoveries += 1
      return this.#dispatch({ type: 'renewed' })
    }
    // The token expired while connected (§2.5: "so the client renews and resumes"): reconnect
    // with `headers` read afresh. A token that is really refused gets its 401 on that request.
    if (expiredInBand(failure) && this.#expiredReconnects < EXPIRED_TOKEN_RECONNECTS) {
      this.#expiredReconnects += 1
      return this.#dispatch({ type: 'renewed' })
    }
    if (kind === 'gone' && this.#codec.gone(failure)) return this.#dispatch({ type: 'renewed' })
    this.#failure = failure
    this.#dispatch({ type: 'refused' })
  }

  #event(event: SseEvent): void {
    // An in-band error ends the connection; the machine judges it like any other failure.
    if (event.event === LIVE_EVENTS.error) throw inBandError(event.data)
    const outcome = this.#codec.event(event)
    if (outcome === 'ended') {
      // The end of the stream: no reconnect, and the subscribers are told it is over.
      this.#dispatch({ type: 'stop' })
      this.#onEnd()
      return
    }
    if (outcome !== 'none') this.#dispatch({ type: outcome })
  }

  #close(): void {
    clearTimeout(this.#timer)
    clearTimeout(this.#health)
    this.#abort.abort(new StateStreamError(ErrorCode.CLOSED, 'the live connection was stopped'))
    // At once: the open window is no longer tailed, so it no longer answers "now" by itself.
    this.#codec.closed()
  }

  #setStatus(status: LiveStatus): void {
    if (this.#status$.value === status) return
    this.#status$.next(status)
    this.#transport.trace({ type: 'status', stream: this.#codec.label, status })
  }
}

/** True for the in-band `UNAUTHORIZED` a server ends a live connection with when its token expires. */
function expiredInBand(err: unknown): boolean {
  const { code, status } = err as { code?: unknown; status?: unknown }
  return code === ErrorCode.UNAUTHORIZED && status === undefined
}
