/**
 * The one window fetcher: `GET /v1/window/<name>` for a point, or for the rest of a held window
 * (`after=` its last entry), through the one retry policy. The body is read as it streams: an
 * answer cut halfway keeps its start and every whole entry (`core/partial-window.ts`), hands them
 * to the caller, and the next attempt asks only for the entries after them. Identical requests
 * under way at once share one.
 */
import { AT_NOW, ErrorCode, QUERY, ROUTES, StateStreamError } from '@statestream/common'
import type { WindowBounds, WindowData } from '@statestream/common'
import type { BackoffOptions } from '../core/backoff.ts'
import { salvageWindow } from '../core/partial-window.ts'
import type { Span } from '../core/window-index.ts'
import type { Point, WindowContent } from '../core/window-machine.ts'
import { toNetworkError } from './answer-errors.ts'
import { retrying } from './retry.ts'
import type { FetchResponse, Transport } from './transport.ts'

/** The time `{ at: 'now' }` stands for in the core: later than any entry, so its window is the open one. */
export const AT_HEAD = Number.MAX_SAFE_INTEGER

/** A window answer and its size (UTF-16 code units of its text, a close estimate of its bytes). */
export interface WindowAnswer {
  data: WindowData
  size: number
}

/** Told of what an answer cut short delivered (its start and whole entries; end not known), with its size. */
export type PartialHandler = (content: WindowContent, size: number) => void

export class WindowFetcher {
  readonly #transport: Transport
  readonly #name: string
  readonly #attempts: number
  readonly #backoff: BackoffOptions | undefined
  readonly #inFlight = new Map<string, Promise<WindowAnswer>>()

  constructor(transport: Transport, name: string, options: { attempts: number; backoff?: BackoffOptions | undefined }) {
    this.#transport = transport
    this.#name = name
    this.#attempts = options.attempts
    this.#backoff = options.backoff
  }

  /** The window of `point` (only its entries after `after`, when given). */
  fetch(point: Point, after: number | undefined, onPartial: PartialHandler): Promise<WindowAnswer> {
    const key = this.#path(point, after)
    const shared = this.#inFlight.get(key)
    if (shared !== undefined) return shared
    const answer = this.#fetch(point, after, onPartial).finally(() => this.#inFlight.delete(key))
    this.#inFlight.set(key, answer)
    return answer
  }

  async #fetch(point: Point, after: number | undefined, onPartial: PartialHandler): Promise<WindowAnswer> {
    const answer = await retrying(
      this.#transport,
      async () => {
        const path = this.#path(point, after)
        const { text, cut } = await readText(await this.#transport.send(path))
        if (cut === undefined) return { data: JSON.parse(text) as WindowData, size: text.length }
        const partial = salvageWindow(text)
        const last = partial?.entries[partial.entries.length - 1]
        if (partial !== undefined && last !== undefined) {
          // Keep what came; the retry asks for the same window, after its last whole entry.
          onPartial({ start: partial.start, entries: partial.entries, end: undefined }, text.length)
          point = { seq: partial.start.seq }
          after = last.seq
          this.#transport.traceEntries(this.#name, 'window', partial.entries)
        }
        throw cut
      },
      { attempts: this.#attempts, backoff: this.#backoff },
    )
    this.#transport.traceEntries(this.#name, 'window', answer.data.entries)
    return answer
  }

  /**
   * The bounds of the window for time `at` (`/v1/windows`, bounds only: no entries), or
   * `undefined` when there is none (before the stream's creation). Not shared, not retried: a
   * caller that cannot learn them waits for what it would have waited for without.
   */
  async spanAt(at: number): Promise<Span | undefined> {
    // Several snapshots in one millisecond: the window for `at` is the last listed.
    return (await this.spansAt(at)).at(-1)
  }

  /**
   * The bounds of every window the server lists at time `at` (`/v1/windows?from=at&to=at`, no
   * entries): the one for `at`, those starting in the same millisecond, and one ending there;
   * none before the stream's creation. Not shared, not retried: the caller judges a failure.
   */
  async spansAt(at: number, signal?: AbortSignal): Promise<Span[]> {
    const path = `${ROUTES.windows}${this.#name}?${QUERY.from}=${at}&${QUERY.to}=${at}`
    const { body } = await this.#transport.json<{ windows: WindowBounds[] }>(path, { signal })
    return body.windows.map((window) => ({ start: window.start, end: window.end }))
  }

  #path(point: Point, after: number | undefined): string {
    const at = 'at' in point ? `${QUERY.at}=${point.at === AT_HEAD ? AT_NOW : point.at}` : `${QUERY.seq}=${point.seq}`
    return `${ROUTES.window}${this.#name}?${at}${after === undefined ? '' : `&${QUERY.after}=${after}`}`
  }

}

/**
 * The body's text as far as it came, and the failure that cut it short, if one did. The bytes are
 * kept as they come and decoded once at the end: decoding chunk by chunk made a string per chunk
 * and a joined text to flatten again, about a tenth of a history's client time.
 */
async function readText(response: FetchResponse): Promise<{ text: string; cut: StateStreamError | undefined }> {
  const body = response.body
  if (body === null) return { text: '', cut: undefined }
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
    }
    return { text: decode(chunks), cut: undefined }
  } catch (err) {
    await reader.cancel().catch(() => undefined)
    const cut = toNetworkError(err)
    return { text: decode(chunks), cut: cut.code === ErrorCode.CLOSED ? cut : new StateStreamError(ErrorCode.NETWORK, cut.message, { cause: err }) }
  } finally {
    reader.releaseLock()
  }
}

/**
 * The UTF-8 text of `chunks` joined. A character cut at the end of a body cut short decodes as
 * U+FFFD; only the whole entries before it are salvaged.
 */
function decode(chunks: Uint8Array[]): string {
  if (chunks.length === 1) return utf8.decode(chunks[0])
  let length = 0
  for (const chunk of chunks) length += chunk.byteLength
  const bytes = new Uint8Array(length)
  let at = 0
  for (const chunk of chunks) {
    bytes.set(chunk, at)
    at += chunk.byteLength
  }
  return utf8.decode(bytes)
}

const utf8 = new TextDecoder()
