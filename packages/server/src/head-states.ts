/**
 * The head states of state streams, kept in memory between appends and bounded in bytes: the
 * least recently used give way once the whole cache would pass its budget. A state that is not
 * held is rebuilt from its last snapshot and the entries after it (one window's work).
 *
 * A state's size is the length of its JSON text, estimated without serialising it: the text of
 * the snapshot it was built from plus the text of every mutation since. That can only overstate
 * (a `set` or a removal shrinks a state without the estimate knowing), by at most the snapshot
 * policy's bytes, and costs nothing per append.
 */
import type { Json } from '@statestream/common'
import { LRUCache } from 'lru-cache'

/** Default budget of the head-state cache: 128 MiB of JSON text. */
export const DEFAULT_STATE_CACHE_BYTES = 128 * 1024 * 1024

/** A held head state and its estimated size in bytes of JSON text. */
export interface HeadState {
  state: Json
  bytes: number
}

/**
 * A held head state with the seq it is the state after. Where several servers write one
 * database, a held state is only good while its seq is still the stream's head.
 */
export interface HeldHead extends HeadState {
  seq: number
}

/** Where the catalog keeps head states (`HeadStates`, or an engine's layer over it). */
export interface HeadCache {
  get(id: number): HeldHead | undefined
  set(id: number, head: HeldHead): void
  delete(id: number): void
  clear(): void
  readonly bytes: number
  readonly size: number
}

export class HeadStates implements HeadCache {
  readonly #cache: LRUCache<number, HeldHead>

  /** `maxBytes`: the budget, in bytes of JSON text (a state larger than that is never held). */
  constructor(maxBytes: number) {
    this.#cache = new LRUCache<number, HeldHead>({
      // lru-cache takes no budget of 0; with 1, nothing is held (a state's text is 2 bytes or more).
      maxSize: Math.max(1, maxBytes),
      // lru-cache needs a positive size; an empty state still costs its entry.
      sizeCalculation: (head) => Math.max(1, head.bytes),
    })
  }

  /** The held head state of stream `id`, if any (it becomes the most recently used). */
  get(id: number): HeldHead | undefined {
    return this.#cache.get(id)
  }

  /** Holds `head` as the head of stream `id`. */
  set(id: number, head: HeldHead): void {
    this.#cache.set(id, head)
  }

  /** Forgets the head of stream `id` (deleted). */
  delete(id: number): void {
    this.#cache.delete(id)
  }

  /** Forgets every head (memory may be ahead of the file). */
  clear(): void {
    this.#cache.clear()
  }

  /** Estimated bytes held, at most the budget. */
  get bytes(): number {
    return this.#cache.calculatedSize
  }

  /** Streams whose head is held. */
  get size(): number {
    return this.#cache.size
  }
}
