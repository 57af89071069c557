/**
 * Reads of `Stream-TTL` streams restart their expiry without a write each: the time of the last
 * read is kept here in memory and written by the next group commit, whatever that commit is for.
 * When nothing else commits for a while, one commit is made for the touches alone, so a stream
 * that is only read still has its expiry on disk within `flushMs` (a crash loses at most that
 * much of its life, never data).
 */
/** Longest a touch waits in memory for a commit, in ms. */
export const TOUCH_FLUSH_MS = 1_000

export class TtlTouches {
  readonly #pending = new Map<number, number>()
  readonly #update: (id: number, ts: number) => void
  readonly #commit: () => void
  readonly #flushMs: number
  #timer: NodeJS.Timeout | undefined

  /**
   * @param update writes a touch in the running transaction, never moving a stream's time back
   *   (an append in the same commit may already have written a later one).
   * @param commit queues a write (of nothing) so that a group commit runs and writes the touches.
   */
  constructor(update: (id: number, ts: number) => void, commit: () => void, flushMs = TOUCH_FLUSH_MS) {
    this.#update = update
    this.#commit = commit
    this.#flushMs = flushMs
  }

  /** Records a read of stream `id` at `ts`. */
  touch(id: number, ts: number): void {
    this.#pending.set(id, Math.max(ts, this.#pending.get(id) ?? 0))
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#pending.size > 0) this.#commit()
    }, this.#flushMs)
    this.#timer.unref()
  }

  /** The last read of stream `id` not yet written, if any (for a record loaded from the file). */
  pending(id: number): number | undefined {
    return this.#pending.get(id)
  }

  /** True when some touch is waiting to be written. */
  get dirty(): boolean {
    return this.#pending.size > 0
  }

  /** Forgets stream `id` (deleted). */
  forget(id: number): void {
    this.#pending.delete(id)
  }

  /** Writes every pending touch; runs inside a group commit's transaction. */
  write(): void {
    for (const [id, ts] of this.#pending) this.#update(id, ts)
    // If this commit fails after all, the touches are lost: the streams live a little less long.
    this.#pending.clear()
  }

  /** Stops the timer (the store is closing; its last commit writes what is pending). */
  close(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
