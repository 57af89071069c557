/**
 * The open windows that live readers start from, read once for every reader that connects to the
 * same stream at the same head.
 *
 * A reader of `/v1/live` gets its stream's open window first: up to a snapshot policy's worth of
 * entries (1 MiB by default) and the state they start from, read from the store and assembled in
 * one synchronous turn. A hundred readers connecting at once would each read and assemble it
 * again, and every append would wait behind all of them. Until the stream's next commit (or its
 * closure, or deletion) that window is the same text for all of them, so it is read once and its
 * `event: window` rendered once, as bytes every reader's socket is handed.
 *
 * Kept only while readers come for it: an entry goes at the stream's next commit, and all go
 * `KEEP_MS` after the last one was read. At most `MAX_BYTES` are kept, so a huge state is read
 * for each reader rather than held.
 */
import type { StreamInfo } from '../stream-types.ts'
import { windowEvent } from './live-events.ts'

/** How long windows are kept after the last one was read, in ms. */
const KEEP_MS = 1_000

/** Most bytes of windows kept at once. */
const MAX_BYTES = 32 * 1024 * 1024

interface Kept {
  /** What the window was read at: the stream's identity, head and closure. */
  key: string
  body: string
  bytes: number
  /** The `/v1/live/<name>` event of it (id: the head's seq), once asked for. */
  event?: Buffer
}

export class OpenWindows {
  readonly #kept = new Map<string, Kept>()
  #bytes = 0
  #timer: NodeJS.Timeout | undefined

  /** The open window's body of `info` at its head: `read` gives it, unless it was read at this very head. */
  body(info: StreamInfo, read: () => string): string {
    return this.#get(info, read).body
  }

  /** The `event: window` of `/v1/live/<name>` for `info` at its head (its id the head's seq), rendered once. */
  event(info: StreamInfo, read: () => string): Buffer {
    const kept = this.#get(info, read)
    return (kept.event ??= Buffer.from(windowEvent(kept.body, info.headSeq)))
  }

  /** Forgets the window of stream `name` (it committed, closed or went away). */
  forget(name: string): void {
    const kept = this.#kept.get(name)
    if (kept === undefined) return
    this.#kept.delete(name)
    this.#bytes -= kept.bytes
  }

  /** Forgets every window. */
  clear(): void {
    this.#kept.clear()
    this.#bytes = 0
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #get(info: StreamInfo, read: () => string): Kept {
    const key = `${info.id}:${info.headSeq}:${info.closed}`
    const kept = this.#kept.get(info.name)
    if (kept?.key === key) return kept
    this.forget(info.name)
    const body = read()
    // Twice the text: the body, and the event's bytes once rendered.
    const fresh: Kept = { key, body, bytes: 2 * body.length }
    if (fresh.bytes > MAX_BYTES) return fresh
    while (this.#bytes + fresh.bytes > MAX_BYTES) {
      const oldest = this.#kept.keys().next().value as string
      this.forget(oldest)
    }
    this.#kept.set(info.name, fresh)
    this.#bytes += fresh.bytes
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.clear(), KEEP_MS)
    this.#timer.unref()
    return fresh
  }
}
