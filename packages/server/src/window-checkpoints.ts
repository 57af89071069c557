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
 * global position of its last entry, which no other entry ever has: before they are used, that is
 * checked against the log (one primary-key lookup), once after each event that may have taken
 * rows away (`StreamCatalog.epoch`).
 *
 * A query finds its window here by time or seq, as the log would (`find`), without a lookup of
 * the snapshot it starts at; and turns a time into a seq from the window's entry times, so that it
 * reads only the entries it applies.
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
  /** The epoch in which `gpos` was last found at `end` in the log (`HistoryReader`). */
  checked: number
  points: Checkpoint[]
  /**
   * The times of the window's entries, in seq order (index 0 is the entry after the start): what
   * turns a time into the seq it ends at without reading the log. Absent if the entries' seqs
   * were not consecutive or their times not in order, which no log of a stream gives.
   */
  times: Float64Array | undefined
  /** What `points` hold, in bytes of JSON text (`heldBytes`), and `times`. */
  bytes: number
}

/** A window held, with what finds it again: its key in the cache and its stream's lineage. */
interface HeldWindow extends WindowCheckpoints {
  key: string
  lineage: string
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
  readonly #cache: LRUCache<string, HeldWindow> | undefined
  /**
   * The windows held for each lineage (a stream's segments), in order of their start: what finds
   * the window covering a point without asking the log for its snapshot.
   */
  readonly #byLineage = new Map<string, HeldWindow[]>()

  /** `maxBytes`: the budget; 0 keeps none. */
  constructor(maxBytes: number) {
    this.#cache =
      maxBytes > 0
        ? new LRUCache<string, HeldWindow>({
            maxSize: maxBytes,
            sizeCalculation: (window) => Math.max(1, window.bytes),
            // Evicted, deleted or replaced: out of its lineage's list too.
            dispose: (window) => this.#unlist(window),
          })
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

  /**
   * The window held for `segments` whose span holds the point strictly inside: its start at or
   * before it, its end after it (`start.ts ≤ at < end.ts`, or `start.seq ≤ seq < end.seq`). No
   * snapshot lies between a window's two bounds, so that window is the one the log would name.
   * A point on an end bound, or in a window of equal bounds, is left to the log.
   */
  find(segments: readonly Segment[], point: { at: number } | { seq: number }): WindowCheckpoints | undefined {
    const list = this.#byLineage.get(lineageOf(segments))
    if (list === undefined) return undefined
    // The last window starting at or before the point (starts grow in seq and, with it, in ts).
    const window = list[lastAtOrBefore(list.length, (i) => (list[i] as HeldWindow).points[0] as Checkpoint, point)]
    if (window === undefined) return undefined
    const start = window.points[0] as Checkpoint
    const inside = 'at' in point ? start.ts <= point.at && point.at < window.end.ts : start.seq <= point.seq && point.seq < window.end.seq
    // Found: the most recently used, as a `get` would make it.
    return inside ? this.#cache?.get(window.key) : undefined
  }

  set(segments: readonly Segment[], start: number, window: WindowCheckpoints): void {
    if (this.#cache === undefined) return
    const key = keyOf(segments, start)
    const lineage = lineageOf(segments)
    const held: HeldWindow = { ...window, key, lineage }
    this.#cache.set(key, held)
    // Not held when it alone is over the budget (then the cache refused it).
    if (this.#cache.peek(key) !== held) return
    // In start order; a history reads its windows in that order, so the place is sought from the end.
    const list = this.#byLineage.get(lineage) ?? []
    let at = list.length
    while (at > 0 && ((list[at - 1] as HeldWindow).points[0] as Checkpoint).seq > start) at--
    list.splice(at, 0, held)
    this.#byLineage.set(lineage, list)
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

  #unlist(window: HeldWindow): void {
    const list = this.#byLineage.get(window.lineage)
    if (list === undefined) return
    const at = list.indexOf(window)
    if (at >= 0) list.splice(at, 1)
    if (list.length === 0) this.#byLineage.delete(window.lineage)
  }
}

/** The lineage's identity: every segment it reads, as `keyOf` names them. Memoised per array. */
function lineageOf(segments: readonly Segment[]): string {
  let lineage = lineages.get(segments)
  if (lineage === undefined) {
    lineage = segments.map((s) => `${s.id}:${s.lo}:${s.hi}:${s.snapHi}`).join('/')
    lineages.set(segments, lineage)
  }
  return lineage
}

const lineages = new WeakMap<readonly Segment[], string>()

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

/**
 * The seq of the last entry of `window` with `ts ≤ at` (its start's, if none is), from its
 * `times`; `undefined` without them.
 */
export function seqAtTime(window: WindowCheckpoints, at: number): number | undefined {
  const times = window.times
  if (times === undefined) return undefined
  // The number of entries with ts ≤ at (times are in order).
  let lo = 0
  let hi = times.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((times[mid] as number) <= at) lo = mid + 1
    else hi = mid
  }
  return (window.points[0] as Checkpoint).seq + lo
}

/** The last checkpoint at or before the point: with `ts ≤ at`, or with `seq ≤ seq`; and the seq of the one after it. */
export function nearest(points: readonly Checkpoint[], point: { at: number } | { seq: number }): { from: Checkpoint; next: number | undefined } {
  // The first checkpoint is the window's start, at or before every point a query asks of it.
  const at = lastAtOrBefore(points.length, (i) => points[i] as Checkpoint, point)
  return { from: points[at] as Checkpoint, next: points[at + 1]?.seq }
}

/**
 * Of `count` bounds in order (`boundAt`), the index of the last one at or before the point (its
 * `ts ≤ at`, or its `seq ≤ seq`); 0 when none is (or `count` is 0). A binary search.
 */
function lastAtOrBefore(count: number, boundAt: (index: number) => Checkpoint, point: { at: number } | { seq: number }): number {
  const byTs = 'at' in point
  const bound = byTs ? point.at : point.seq
  let lo = 0
  let hi = count - 1
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2)
    const p = boundAt(mid)
    if ((byTs ? p.ts : p.seq) <= bound) lo = mid
    else hi = mid - 1
  }
  return lo
}
