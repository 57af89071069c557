/**
 * Materialised states inside closed windows, for the state at a time or seq. A window holds up to
 * a snapshot policy's worth of entries (1000 by default), and the state at a point inside it is
 * its start state with every entry before the point replayed: on average half a window parsed
 * and applied, per query. Once a closed window has been replayed, its states every
 * `CHECKPOINT_SPACING` entries are kept here, so a later query in that window replays only the
 * entries after the nearest one (fewer than `CHECKPOINT_SPACING`).
 *
 * A closed window never changes, so nothing here goes stale while it lives — except that a
 * stream's id may be reused after it was deleted (SQLite). Each window's checkpoints carry the
 * global position of its last entry, which no other entry ever has: a query checks it against
 * the log (one primary-key lookup) before using them.
 *
 * Bounded in bytes of JSON text, least recently used first out. A window's checkpoints share
 * every subtree their entries left alone: each object or array held is counted once, by the text
 * it adds (`heldBytes`), so a window is charged for what it really keeps, however its state grew
 * or shrank after its start. States handed out share structure with the kept ones: nobody changes
 * a state in place (see `applySequence`).
 */
import type { Bound, Json } from '@statestream/common'
import { LRUCache } from 'lru-cache'
import { OPEN_END, slices } from './lineage.ts'
import type { Segment } from './lineage.ts'

/** Entries between two checkpoints of a window. */
export const CHECKPOINT_SPACING = 64

/** Default budget of the checkpoints held: 64 MiB of (estimated) JSON text. */
export const DEFAULT_CHECKPOINT_BYTES = 64 * 1024 * 1024

/** A materialised state inside a window: the state after entry `seq` (its time `ts`). */
export interface Checkpoint {
  seq: number
  ts: number
  state: Json
}

/** The checkpoints of one closed window, first (its start) to last, every `CHECKPOINT_SPACING` entries. */
export interface WindowCheckpoints {
  /** The window's end bound (the next snapshot). */
  end: Bound
  /** Global position of the window's last entry (as text: engines give it as a number or a string): what proves these are still this window's. */
  gpos: string
  points: Checkpoint[]
  /** What `points` hold, in bytes of JSON text (`heldBytes`). */
  bytes: number
}

type Container = Json[] | { [key: string]: Json }

/**
 * The JSON text of the states `points` hold, each object and array counted once however many of
 * the states share it: what keeping them costs. Walks with an explicit stack (a state may nest
 * deeper than recursion allows). Strings count their length and quotes, not their escapes.
 */
export function heldBytes(points: readonly Checkpoint[]): number {
  const seen = new Set<object>()
  const stack: Container[] = []
  let bytes = 0
  const add = (value: Json): void => {
    if (typeof value === 'string') bytes += value.length + 2
    else if (typeof value === 'number') bytes += String(value).length
    else if (typeof value === 'boolean') bytes += value ? 4 : 5
    else if (value === null) bytes += 4
    else if (!seen.has(value)) {
      seen.add(value)
      stack.push(value)
    }
  }
  for (const point of points) {
    add(point.state)
    while (stack.length > 0) {
      const node = stack.pop() as Container
      if (Array.isArray(node)) {
        bytes += 1 + Math.max(1, node.length)
        for (const child of node) add(child)
      } else {
        const keys = Object.keys(node)
        bytes += 1 + Math.max(1, keys.length)
        for (const key of keys) {
          bytes += key.length + 3
          add(node[key] as Json)
        }
      }
    }
  }
  return bytes
}

export class CheckpointCache {
  readonly #cache: LRUCache<string, WindowCheckpoints> | undefined

  /** `maxBytes`: the budget; 0 keeps none. */
  constructor(maxBytes: number) {
    this.#cache =
      maxBytes > 0
        ? new LRUCache<string, WindowCheckpoints>({ maxSize: maxBytes, sizeCalculation: (window) => Math.max(1, window.bytes) })
        : undefined
  }

  /** False when the budget is 0: nothing is ever kept. */
  get keeps(): boolean {
    return this.#cache !== undefined
  }

  /** The checkpoints held for the window of `segments` that starts at snapshot `start`. */
  get(segments: readonly Segment[], start: number): WindowCheckpoints | undefined {
    return this.#cache?.get(keyOf(segments, start))
  }

  set(segments: readonly Segment[], start: number, window: WindowCheckpoints): void {
    this.#cache?.set(keyOf(segments, start), window)
  }

  /** Drops the checkpoints of `segments`'s window at `start` (found stale). */
  delete(segments: readonly Segment[], start: number): void {
    this.#cache?.delete(keyOf(segments, start))
  }

  /** Bytes held, at most the budget. */
  get bytes(): number {
    return this.#cache?.calculatedSize ?? 0
  }

  /** Windows held. */
  get windows(): number {
    return this.#cache?.size ?? 0
  }
}

/**
 * The window's identity in the cache: the stored rows it reads (every segment slice from its
 * start on) and its start. A fork's windows after its fork point read other rows than its
 * source's windows of the same start, and so get other keys.
 */
function keyOf(segments: readonly Segment[], start: number): string {
  let key = `${start}`
  for (const slice of slices(segments, start, OPEN_END)) key += `/${slice.id}:${slice.lo}`
  return key
}

/** The last checkpoint at or before the point: with `ts ≤ at`, or with `seq ≤ seq`; and the seq of the one after it. */
export function nearest(points: readonly Checkpoint[], point: { at: number } | { seq: number }): { from: Checkpoint; next: number | undefined } {
  const byTs = 'at' in point
  const bound = byTs ? point.at : point.seq
  // The first checkpoint is the window's start, at or before every point a query asks of it.
  let lo = 0
  let hi = points.length - 1
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2)
    const p = points[mid] as Checkpoint
    if ((byTs ? p.ts : p.seq) <= bound) lo = mid
    else hi = mid - 1
  }
  return { from: points[lo] as Checkpoint, next: points[lo + 1]?.seq }
}
