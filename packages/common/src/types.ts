/**
 * The model of §1: JSON values, mutations, entries, snapshots and windows. Plain data only, so
 * every one of them crosses the wire as it is.
 */

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** One RFC 6902 JSON Patch operation. */
export type PatchOp =
  | { op: 'add'; path: string; value: Json }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: Json }
  | { op: 'move'; from: string; path: string }
  | { op: 'copy'; from: string; path: string }
  | { op: 'test'; path: string; value: Json }

/** A mutation: exactly one of a JSON Patch, a JSON Merge Patch, or a whole new state. */
export type Mutation = { patch: PatchOp[] } | { merge: Json } | { set: Json }

/** A mutation as a writer sends it: optionally with its own event time `ts` (ms since epoch). */
export type Message = Mutation & { ts?: number }

/** One entry of a state stream's log. */
export interface Entry {
  /** 1, 2, 3, … per stream, gapless. */
  seq: number
  /** Milliseconds since the epoch, non-decreasing per stream. */
  ts: number
  /** The mutation. */
  m: Mutation
}

/** A point in a stream's history: the position after entry `seq` (0 = creation). */
export interface Bound {
  seq: number
  ts: number
}

/** The full state after entry `seq`. */
export interface Snapshot<S = Json> extends Bound {
  state: S
}

/** A window as `/v1/window` answers it: a start snapshot, its entries, and its end bound. */
export interface WindowData<S = Json> {
  stream: string
  /**
   * The state the window starts from; `null` only for the window before the stream existed,
   * which holds no state and ends at the creation bound (`seq` 0).
   */
  start: Snapshot<S> | null
  entries: Entry[]
  /** `null` for the open window, which grows as entries arrive. */
  end: Bound | null
  /** Offset of the stream log just after the last entry sent. */
  nextOffset: string
}

/** A window's bounds as `/v1/windows` lists them. */
export interface WindowBounds {
  start: Bound
  end: Bound | null
  /** Number of entries in the window (so far, for the open one). */
  entries: number
  /** Bytes of mutation JSON in the window. */
  bytes: number
}

/** An answer of `/v1/state`: the state at a time or seq; all `null` before the stream existed. */
export type StateAt<S = Json> = { seq: number; ts: number; state: S } | { seq: null; ts: null; state: null }

/** The per-stream snapshot policy: a snapshot is taken when any limit is reached. */
export interface SnapshotPolicy {
  /** Entries since the last snapshot. */
  entries: number
  /** Bytes of mutation JSON since the last snapshot. */
  bytes: number
  /** Milliseconds of stream time since the last snapshot. */
  ms: number
}
