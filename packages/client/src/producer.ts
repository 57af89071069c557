/**
 * Appends through the idempotent producer of the Durable Streams protocol. Each request carries
 * `Producer-Id` (random per producer), `Producer-Epoch` and `Producer-Seq` (one per request, from
 * 0 in each epoch). The server stores a `(id, epoch, seq)` once and answers a repeat with 204, so a
 * request whose answer was lost can be sent again safely: it is stored exactly once.
 *
 * Requests of one producer are sent one at a time, in order (the protocol requires it). A request
 * that the server refused is not counted (its seq is reused); one whose fate stayed unknown after
 * every retry closes the epoch, so the next request starts a new one and cannot be mistaken for it.
 */
import { ErrorCode, HEADERS, JSON_CONTENT_TYPE, ROUTES, STATE_KIND, StateStreamError } from '@statestream/common'
import type { Message } from '@statestream/common'
import { classify } from './core/backoff.ts'
import type { BackoffOptions } from './core/backoff.ts'
import { retrying } from './io/retry.ts'
import type { Transport } from './io/transport.ts'

/** What an append stored. */
export interface AppendResult {
  /**
   * Seq of the last entry this append stored. For a retried request the server had already
   * stored (`duplicate`), the stream's head when it answered, which may be later.
   */
  seq: number
  /** True when the server had stored this request before (a retry whose first answer was lost). */
  duplicate: boolean
}

/** Settings of a producer. */
export interface ProducerOptions {
  /** Attempts per request before giving up on network failures. Default 6. */
  attempts?: number
  /** Backoff between attempts. */
  backoff?: BackoffOptions | undefined
  /** Producer id; a random UUID by default. */
  id?: string
}

/** The sequential, retrying writer of one stream. */
export class IdempotentProducer {
  readonly #http: Transport
  readonly #name: string
  readonly #id: string
  readonly #attempts: number
  readonly #backoff: BackoffOptions | undefined
  #epoch = 0
  #seq = 0
  #queue: Promise<unknown> = Promise.resolve()

  constructor(http: Transport, name: string, options: ProducerOptions = {}) {
    this.#http = http
    this.#name = name
    this.#id = options.id ?? randomId()
    this.#attempts = options.attempts ?? 6
    this.#backoff = options.backoff
  }

  /** The producer id sent with every request. */
  get id(): string {
    return this.#id
  }

  /**
   * Appends one message or an atomic batch; resolves once stored (exactly once). A `streamSeq` is
   * sent as `Stream-Seq`: the server refuses it (`STREAM_SEQ_REGRESSION`) unless it sorts after
   * the last one the stream took, which keeps writers that coordinate by it from storing twice.
   */
  append(messages: Message | readonly Message[], signal?: AbortSignal, streamSeq?: string): Promise<AppendResult> {
    const body = JSON.stringify(messages)
    const run = this.#queue.then(() => this.#send(body, signal, streamSeq))
    // The next request waits for this one, whatever its outcome.
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #send(body: string, signal: AbortSignal | undefined, streamSeq: string | undefined): Promise<AppendResult> {
    // Aborted while it waited its turn: nothing was sent, so the seq stays free.
    if (signal?.aborted) throw signal.reason
    const headers = {
      'content-type': JSON_CONTENT_TYPE,
      [HEADERS.producerId]: this.#id,
      [HEADERS.producerEpoch]: String(this.#epoch),
      [HEADERS.producerSeq]: String(this.#seq),
      // Mutations: the server refuses them unless the stream is a state stream.
      [HEADERS.streamKind]: STATE_KIND,
      ...(streamSeq !== undefined && { [HEADERS.streamSeq]: streamSeq }),
    }
    const path = `${ROUTES.stream}${this.#name}`
    try {
      const response = await retrying(this.#http, () => this.#http.json<undefined>(path, { method: 'POST', headers, body, signal }), {
        attempts: this.#attempts,
        backoff: this.#backoff,
        signal,
      })
      this.#seq += 1
      const offset = response.headers[HEADERS.streamNextOffset]
      return { seq: offset === undefined ? Number.NaN : Number(offset), duplicate: response.status === 204 }
    } catch (err) {
      // A refusal (bad mutation, missing stream…) stored nothing: the seq is free for the next request.
      if (!signal?.aborted && classify(err) !== 'retry') throw err
      // Cut short or never answered: it may be stored. A new epoch keeps the next request from being taken for it.
      this.#newEpoch()
      if (signal?.aborted) throw signal.reason
      throw new StateStreamError(ErrorCode.NETWORK, `append to "${this.#name}" failed after ${this.#attempts} attempts`, { cause: err })
    }
  }

  #newEpoch(): void {
    this.#epoch += 1
    this.#seq = 0
  }
}

/**
 * A random UUID (v4) from Web Crypto, the same in Node and in browsers. `randomUUID` exists only
 * in secure contexts (HTTPS, localhost); elsewhere the id is made from `getRandomValues`.
 */
function randomId(): string {
  const crypto = globalThis.crypto
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
