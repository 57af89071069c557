/**
 * The life of one held window, as a pure transition function (electric's `shape-stream-state.ts`
 * does the same for its connection):
 *
 *             ask(point)                    received(end set,        received(rest)
 *     ──────────────────► pending ───────── all entries) ─────────────────────────► committed
 *                            │   received(open, or part)                          ▲      ▲
 *                            │ failed           │            ┌── received(part) ──┤      │
 *                            ▼                  ▼            ▼                    │      │
 *                         removed            pulling ◄───────┘ failed: stays,     │      │
 *                                             │  ▲        resumable by `after=`   │      │
 *                                      tailed │  │ untailed                       │      │
 *     live window (SSE) ───────────────────►  ▼  │                                │      │
 *                                            live ──── entry: grows ──────────────┘      │
 *                                              └────── bound(b): end = b ────────────────┘
 *                                                      (a new live window starts at b, from held data)
 *
 * - `pending`: asked for by a point (a time or a seq); nothing about it is known yet.
 * - `pulling`: its start is known and a prefix of its entries is held; its end may be known. A
 *   fetch interrupted half-way, a tail that stopped and a window fetched while still open all leave
 *   one: the next fetch asks only for the entries `after` the last one held.
 * - `committed`: every entry and the end bound are held. Immutable.
 * - `live`: the open window, tailed by a connected live cursor; it grows by `entry` and closes by
 *   `bound`.
 */
import { ErrorCode, StateStreamError, entriesUpToSeq, entriesUpToTs, replay } from '@statestream/common'
import type { Bound, Entry, Json, Snapshot } from '@statestream/common'

/** Window states, as an `as const` object and the union of its values. */
export const WindowState = {
  pending: 'pending',
  pulling: 'pulling',
  committed: 'committed',
  live: 'live',
} as const
export type WindowState = (typeof WindowState)[keyof typeof WindowState]

/** A point of history a window is asked for by. */
export type Point = { at: number } | { seq: number }

/** The data of a window that has any: its start state, the entries held, its end bound if known. */
export interface WindowContent {
  start: Snapshot
  entries: readonly Entry[]
  end: Bound | null
}

/** A held window in one of its states. */
export type WindowModel =
  | { state: 'pending'; point: Point }
  | ({ state: 'pulling' } & WindowContent)
  | ({ state: 'committed' } & WindowContent & { end: Bound })
  | ({ state: 'live' } & WindowContent & { end: null })

/** What can happen to a held window. */
export type WindowEvent =
  /** A fetch answered: the window from `start` with entries (all, or those after the held ones). */
  | { type: 'received'; content: WindowContent }
  /** A fetch failed. */
  | { type: 'failed' }
  /** A connected live cursor took the (open) window over. */
  | { type: 'tailed' }
  /** The live cursor stopped or lost its connection. */
  | { type: 'untailed' }
  /** The live cursor received the next entry. */
  | { type: 'entry'; entry: Entry }
  /** The server closed the open window at `bound` (its last entry). */
  | { type: 'bound'; bound: Bound }

/** Raised when an event cannot happen in a state: held data and the server disagree. */
export class WindowConflict extends StateStreamError {
  constructor(message: string) {
    super(ErrorCode.INTERNAL, `window conflict: ${message}`)
  }
}

/** The next model of a window after `event`; `undefined` when the window is removed. */
export function transition(model: WindowModel, event: WindowEvent): WindowModel | undefined {
  switch (event.type) {
    case 'received': {
      if (model.state === 'committed') return model
      if (model.state === 'pending') return settle(event.content)
      const merged = merge(model, event.content)
      return model.state === 'live' && merged.end === null ? { ...merged, state: 'live', end: null } : settle(merged)
    }
    case 'failed':
      // Nothing was held: forget the window so a later request asks again. Held entries stay valid.
      return model.state === 'pending' ? undefined : model
    case 'tailed':
      if (model.state === 'pulling' && model.end === null) return { ...model, state: 'live', end: null }
      if (model.state === 'live') return model
      throw new WindowConflict(`a ${model.state} window cannot be tailed`)
    case 'untailed':
      return model.state === 'live' ? { ...model, state: 'pulling' } : model
    case 'entry': {
      if (model.state === 'pending' || model.state === 'committed') {
        throw new WindowConflict(`an entry cannot join a ${model.state} window`)
      }
      const last = lastSeq(model)
      if (event.entry.seq <= last) return model // already held (two tails, or a resumed fetch)
      if (event.entry.seq !== last + 1) throw new WindowConflict(`entry ${event.entry.seq} does not follow ${last}`)
      const grown = { ...model, entries: [...model.entries, event.entry] }
      return model.state === 'live' ? grown : settle(grown)
    }
    case 'bound': {
      if (model.state === 'pending') throw new WindowConflict('a pending window has no bound')
      if (model.state === 'committed') return model
      if (lastSeq(model) !== event.bound.seq) {
        throw new WindowConflict(`bound ${event.bound.seq} is not the last held entry ${lastSeq(model)}`)
      }
      return { state: 'committed', start: model.start, entries: model.entries, end: event.bound }
    }
  }
}

/** The model for freshly received content: committed when complete, pulling otherwise. */
function settle(content: WindowContent): WindowModel {
  if (content.end !== null && lastSeqOf(content) === content.end.seq) {
    return { state: 'committed', start: content.start, entries: content.entries, end: content.end }
  }
  return { state: 'pulling', start: content.start, entries: content.entries, end: content.end }
}

/** Held content plus received content: the entries after the held ones are appended. */
function merge(held: WindowContent, received: WindowContent): WindowContent {
  if (held.start.seq !== received.start.seq) {
    throw new WindowConflict(`window from ${received.start.seq} merged into window from ${held.start.seq}`)
  }
  const last = lastSeqOf(held)
  const fresh = received.entries.filter((entry) => entry.seq > last)
  const first = fresh[0]
  if (first !== undefined && first.seq !== last + 1) {
    throw new WindowConflict(`received entries from ${first.seq}, held up to ${last}`)
  }
  return {
    start: held.start,
    entries: fresh.length === 0 ? held.entries : [...held.entries, ...fresh],
    end: held.end ?? received.end,
  }
}

/** Seq of the last entry held (the start's seq when none). */
export function lastSeqOf(content: WindowContent): number {
  return content.entries[content.entries.length - 1]?.seq ?? content.start.seq
}

/** Ts of the last entry held (the start's ts when none). */
export function lastTsOf(content: WindowContent): number {
  return content.entries[content.entries.length - 1]?.ts ?? content.start.ts
}

function lastSeq(model: WindowContent): number {
  return lastSeqOf(model)
}

/**
 * True when the held data of `model` alone answers "the state at `ts`":
 * - a committed window covers `[start.ts, end.ts)`: entries after it all have `ts ≥ end.ts`;
 * - a live window covers everything from `start.ts` on: it is the head, as of now;
 * - a pulling window covers `[start.ts, last held ts)`: later entries cannot be earlier than that.
 */
export function coversTs(model: WindowModel, ts: number): boolean {
  if (model.state === 'pending' || ts < model.start.ts) return false
  if (model.state === 'live') return true
  if (model.state === 'committed') return ts < model.end.ts
  return ts < lastTsOf(model) || (model.end !== null && ts < model.end.ts && lastSeqOf(model) === model.end.seq)
}

/** True when `model` is the window of entry `seq` (`start ≤ seq < end`) and holds that entry. */
export function coversSeq(model: WindowModel, seq: number): boolean {
  if (model.state === 'pending' || seq < model.start.seq) return false
  if (model.state === 'committed') return seq < model.end.seq
  if (model.end !== null && seq >= model.end.seq) return false
  return seq <= lastSeqOf(model)
}

/** True when `seq` lies in the window's range as far as it is known (held or not). */
export function spansSeq(model: WindowModel, seq: number): boolean {
  if (model.state === 'pending' || seq < model.start.seq) return false
  return model.end === null || seq < model.end.seq
}

/** The state at `ts` from a window that covers it. */
export function stateAtTs(content: WindowContent, ts: number): Snapshot<Json> {
  return replay(content.start, content.entries, entriesUpToTs(content.entries, ts))
}

/** The state after entry `seq` from a window that covers it. */
export function stateAtSeq(content: WindowContent, seq: number): Snapshot<Json> {
  return replay(content.start, content.entries, entriesUpToSeq(content.entries, seq))
}

/** True when the held data of `model` answers the state at `point`. */
export function coversPoint(model: WindowModel, point: Point): boolean {
  return 'at' in point ? coversTs(model, point.at) : coversSeq(model, point.seq)
}

/** True when `point` lies in the window's known range, though not all of it is held. */
export function spans(model: WindowModel, point: Point): boolean {
  if (model.state === 'pending' || model.state === 'committed') return false
  if ('seq' in point) return spansSeq(model, point.seq)
  return point.at >= model.start.ts && (model.end === null || point.at < model.end.ts)
}

/** True when `point` lies in a known extent `[start, end)`. */
export function inSpan(span: { start: Bound; end: Bound | null }, point: Point): boolean {
  if ('seq' in point) return point.seq >= span.start.seq && (span.end === null || point.seq < span.end.seq)
  return point.at >= span.start.ts && (span.end === null || point.at < span.end.ts)
}
