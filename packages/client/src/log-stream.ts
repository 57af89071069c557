/**
 * `client.log(name)`: any stream as the Durable Streams protocol sees it — a log of messages of
 * one content type, bytes or JSON, with no interpretation. Tools that copy streams whatever their
 * kind (the CLI's `export` and `import`) read and write plain streams through it; state streams
 * have `client.stream(name)`, with windows, history and a live cursor.
 */
import { ErrorCode, HEADERS, QUERY, ROUTES, StateStreamError, assertStreamName, decodeOffset, encodeOffset } from '@statestream/common'
import type { BackoffOptions } from './core/backoff.ts'
import { retrying } from './io/retry.ts'
import { flatten } from './io/transport.ts'
import type { Transport } from './io/transport.ts'
import type { CallOptions } from './state-stream.ts'
import { expiryHeaders, readStreamInfo } from './stream-info.ts'
import type { StreamInfo } from './stream-info.ts'

/** Options of `LogStream.create()`. */
export interface LogCreateOptions extends CallOptions {
  /** The stream's content type: every append must have it (`application/json` makes a JSON stream). */
  contentType: string
  /** `Stream-TTL`: seconds without a read or write after which the stream expires. */
  ttlSeconds?: number
  /** `Stream-Expires-At`: when the stream expires, ms since the epoch (not with `ttlSeconds`). */
  expiresAt?: number
}

/** One catch-up read: the messages after a seq, as the server sends them. */
export interface LogChunk {
  /** The body: the messages' bytes concatenated, or a JSON array of them on a JSON stream. */
  body: Uint8Array
  /** Seq of the last message the body holds (the `after` asked for when it holds none). */
  next: number
  /** True when the body reaches the stream's head. */
  upToDate: boolean
  /** True when the body reaches the head of a closed stream: nothing more will come. */
  closed: boolean
}

/** Options of `LogStream.read()`. */
export interface LogReadOptions extends CallOptions {
  /** At most this many messages (at least 1). */
  limit?: number
}

/** Options of `LogStream.append()`. */
export interface LogAppendOptions extends CallOptions {
  /** The body's content type. Default: the one given to `create()`, else `application/octet-stream`. */
  contentType?: string
  /**
   * Sent as `Stream-Seq`: refused (`STREAM_SEQ_REGRESSION`) unless it sorts after the last one the
   * stream took. Only an append that carries one is retried on a network failure: a retry that
   * finds it stored already is refused, never stored twice.
   */
  streamSeq?: string
}

/** How a log stream's requests are retried. */
export interface LogRetry {
  attempts: number
  backoff?: BackoffOptions | undefined
}

export class LogStream {
  readonly name: string
  readonly #transport: Transport
  readonly #retry: LogRetry
  #contentType: string | undefined

  /** Made by `client.log(name)`. */
  constructor(name: string, transport: Transport, retry: LogRetry) {
    this.name = assertStreamName(name)
    this.#transport = transport
    this.#retry = retry
  }

  /** Creates the stream (`created: false` when it exists with the same configuration). */
  async create(options: LogCreateOptions): Promise<{ created: boolean }> {
    this.#contentType = options.contentType
    const headers = { 'content-type': options.contentType, ...expiryHeaders(options) }
    const signal = options.signal
    const response = await this.#request(() => this.#transport.json<undefined>(this.#path, { method: 'PUT', headers, ...(signal !== undefined && { signal }) }), signal)
    return { created: response.status === 201 }
  }

  /** The stream's configuration and head (`HEAD`). */
  info(options: CallOptions = {}): Promise<StreamInfo> {
    return readStreamInfo((path, init) => this.#request(() => this.#transport.json(path, init), init?.signal), this.name, options.signal)
  }

  /**
   * The messages after entry `after` (0: from the start), as much as the server sends in one
   * answer, and at most `limit` of them (a statestream server's extension: with `limit: 1`, a
   * bytes stream's messages come one by one instead of run together).
   */
  async read(after: number, options: LogReadOptions = {}): Promise<LogChunk> {
    if (options.limit !== undefined && !(Number.isSafeInteger(options.limit) && options.limit >= 1)) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"limit" must be a whole number of at least 1, got ${String(options.limit)}`)
    }
    const path = `${this.#path}?${QUERY.offset}=${encodeOffset(after)}${options.limit === undefined ? '' : `&${QUERY.limit}=${options.limit}`}`
    const signal = options.signal
    return this.#request(async () => {
      const response = await this.#transport.send(path, { ...(signal !== undefined && { signal }) })
      const body = new Uint8Array(await response.arrayBuffer())
      const headers = flatten(response.headers)
      const next = decodeOffset(headers[HEADERS.streamNextOffset] ?? encodeOffset(after))
      return {
        body,
        next: next.kind === 'seq' ? next.seq : after,
        upToDate: headers[HEADERS.streamUpToDate] === 'true',
        closed: headers[HEADERS.streamClosed] === 'true',
      }
    }, signal)
  }

  /** Appends one message (bytes or text; on a JSON stream, a JSON array appends each of its elements). */
  async append(body: Uint8Array | string, options: LogAppendOptions = {}): Promise<{ seq: number }> {
    const headers = {
      'content-type': options.contentType ?? this.#contentType ?? 'application/octet-stream',
      ...(options.streamSeq !== undefined && { [HEADERS.streamSeq]: options.streamSeq }),
    }
    const signal = options.signal
    const send = () => this.#transport.json<undefined>(this.#path, { method: 'POST', headers, body, ...(signal !== undefined && { signal }) })
    // Without Stream-Seq a retry could store the message twice: it is sent once.
    const response = options.streamSeq === undefined ? await send() : await this.#request(send, signal)
    return { seq: seqOf(response.headers) }
  }

  /** Closes the stream: appends are refused from now on (closing a closed stream is done already). */
  async close(options: CallOptions = {}): Promise<void> {
    const headers = { 'content-type': this.#contentType ?? 'application/octet-stream', [HEADERS.streamClosed]: 'true' }
    const signal = options.signal
    await this.#request(() => this.#transport.json<undefined>(this.#path, { method: 'POST', headers, ...(signal !== undefined && { signal }) }), signal)
  }

  get #path(): string {
    return `${ROUTES.stream}${this.name}`
  }

  #request<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retrying(this.#transport, call, { attempts: this.#retry.attempts, backoff: this.#retry.backoff, signal })
  }
}

/** The head a write's answer reports (NaN if it reports none). */
function seqOf(headers: Record<string, string>): number {
  const offset = headers[HEADERS.streamNextOffset]
  return offset === undefined ? Number.NaN : Number(offset)
}
