/**
 * The open windows that live readers start from, read once for every reader that connects to the
 * same stream at the same head.
 *
 * A reader of `/v1/live` gets its stream's open window first: up to a snapshot policy's worth of
 * entries (1 MiB by default) and the state they start from, read from the store and assembled in
 * one synchronous turn. A hundred readers connecting at once would each read and assemble it
 * again, and every append would wait behind all of them. So it is read once, and its `event:
 * window` rendered once, as bytes every reader's socket is handed. While appends go on, a window
 * read a few entries ago is still the open window but for those entries (as long as no snapshot
 * has closed it): a reader gets it, then those entries as live events (`event`), just as if it
 * had connected then. Those events are kept with the window as each commit renders them for the
 * live readers (`extend`), so the readers of a burst are handed the same bytes, window and
 * entries, without a read or a rendering of their own. The multiplexed route, whose windows carry
 * a gpos, reuses the text only at the very head it was read at (`body`).
 *
 * Kept only while readers come for it: an entry goes when its stream takes a snapshot, closes or
 * goes away, and all go `KEEP_MS` after the last one was read. At most `MAX_BYTES` are kept, so a
 * huge state is read for each reader rather than held.
 */
import type { StreamInfo } from '../stream-types.ts'
import { windowEventBytes } from './live-events.ts'

/** How long windows are kept after the last one was read, in ms. */
const KEEP_MS = 1_000

/** Most bytes of windows kept at once. */
const MAX_BYTES = 32 * 1024 * 1024

/** A window read at most this many entries before the head is still handed out (with those entries after it). */
export const MAX_BEHIND = 500

/**
 * What a reader connecting to a stream at its head is handed: the open window's event (read at
 * seq `seq`), then, when commits since then were kept with it, their entries' events (`since`),
 * which run to seq `through`.
 */
export interface OpenWindowEvent {
  event: Buffer
  seq: number
  since?: Buffer
  through: number
}

interface Kept {
  /** The stream's identity when it was read. */
  id: number
  /** The head it was read at: the window runs to it. */
  seq: number
  body: string
  bytes: number
  /** The `/v1/live/<name>` event of it (id: the head's seq), once asked for. */
  event?: Buffer
  /**
   * The events of the entries committed since it was read, as commits rendered them for live
   * readers (`extend`), and the seq they run to: the head, as long as every commit was told.
   */
  tail: Buffer[]
  through: number
  /** `tail` as one buffer, once asked for at this `through`. */
  joined: Buffer | undefined
}

export class OpenWindows {
  readonly #kept = new Map<string, Kept>()
  #bytes = 0
  #timer: NodeJS.Timeout | undefined

  /** The open window's body of `info` at its head: `read` gives it, unless it was read at this very head. */
  body(info: StreamInfo, read: () => string): string {
    const kept = this.#kept.get(info.name)
    if (kept !== undefined && kept.id === info.id && kept.seq === info.headSeq && !info.closed) return kept.body
    return this.#read(info, read).body
  }

  /**
   * The `event: window` of `/v1/live/<name>` for `info`'s open window (its id the seq it runs to,
   * `seq`), rendered once: one read at most `MAX_BEHIND` entries before the head when `sameWindow`
   * says no snapshot was taken after it (the caller sends the entries after it), else `read` at
   * the head.
   */
  event(info: StreamInfo, read: () => string, sameWindow: (since: number) => boolean): OpenWindowEvent {
    let kept = this.#kept.get(info.name)
    const usable =
      kept !== undefined &&
      kept.id === info.id &&
      !info.closed &&
      kept.seq <= info.headSeq &&
      info.headSeq - kept.seq <= MAX_BEHIND &&
      // Told every commit since it was read, none of which took a snapshot (that forgets it).
      (kept.through === info.headSeq || sameWindow(kept.seq))
    if (!usable) kept = this.#read(info, read)
    const chosen = kept as Kept
    chosen.event ??= windowEventBytes(chosen.body, chosen.seq)
    const tail = chosen.tail
    if (chosen.through !== info.headSeq || tail.length === 0) return { event: chosen.event, seq: chosen.seq, through: chosen.seq }
    chosen.joined ??= tail.length === 1 ? (tail[0] as Buffer) : Buffer.concat(tail)
    return { event: chosen.event, seq: chosen.seq, since: chosen.joined, through: chosen.through }
  }

  /**
   * Entries `firstSeq`…`lastSeq` of `info` were committed (no snapshot among them): a window kept
   * for it gets their events, `render(afterSeq)` (those after `afterSeq`; the live readers' own
   * rendering, shared), so that readers connecting later are handed window and entries without a
   * read. A window that missed a commit, or would fall too far behind, is forgotten.
   */
  extend(info: StreamInfo, firstSeq: number, lastSeq: number, render: (afterSeq: number) => Buffer): void {
    const kept = this.#kept.get(info.name)
    if (kept === undefined || lastSeq <= kept.through) return
    if (kept.id !== info.id || firstSeq > kept.through + 1 || lastSeq - kept.seq > MAX_BEHIND) return this.forget(info.name)
    const chunk = render(kept.through)
    if (this.#bytes + chunk.length > MAX_BYTES) return this.forget(info.name)
    kept.tail.push(chunk)
    kept.through = lastSeq
    kept.joined = undefined
    kept.bytes += chunk.length
    this.#bytes += chunk.length
  }

  /** Whether a window of stream `name` is kept (commits to it are worth rendering for `extend`). */
  has(name: string): boolean {
    return this.#kept.has(name)
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

  /** Reads the window of `info` at its head, and keeps it (unless the stream is closed: its tail ends at once). */
  #read(info: StreamInfo, read: () => string): Kept {
    this.forget(info.name)
    const body = read()
    // Twice the text: the body, and the event's bytes once rendered.
    const fresh: Kept = { id: info.id, seq: info.headSeq, body, bytes: 2 * body.length, tail: [], through: info.headSeq, joined: undefined }
    if (info.closed) return fresh
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
