/**
 * What held data answers, with the time semantics of the design (§1): the state at T is the
 * state after every entry with `ts ≤ T`; the window for T starts at the last snapshot with
 * `ts ≤ T`; the window for seq n is the one with `start ≤ n < end`.
 */
import { entriesUpToSeq, entriesUpToTs, replay } from '@statestream/common'
import type { Bound, Json, Snapshot } from '@statestream/common'
import { lastSeqOf, lastTsOf } from './window-machine.ts'
import type { Point, WindowContent, WindowModel } from './window-machine.ts'

/**
 * True when the held data of `model` alone answers "the state at `ts`":
 * - a committed window covers `[start.ts, end.ts)`: entries after it all have `ts ≥ end.ts`;
 * - a live window covers everything from `start.ts` on: it is the head, as of now;
 * - a pulling window covers `[start.ts, last held ts)`: later entries cannot be earlier than that.
 */
export function coversTs(model: WindowModel, ts: number): boolean {
  if (model.status === 'pending' || ts < model.start.ts) return false
  if (model.status === 'live') return true
  if (model.status === 'committed') return ts < model.end.ts
  return ts < lastTsOf(model) || (model.end !== null && model.end !== undefined && ts < model.end.ts && lastSeqOf(model) === model.end.seq)
}

/** True when `model` is the window of entry `seq` (`start ≤ seq < end`) and holds that entry. */
export function coversSeq(model: WindowModel, seq: number): boolean {
  if (model.status === 'pending' || seq < model.start.seq) return false
  if (model.status === 'committed') return seq < model.end.seq
  if (model.end !== null && model.end !== undefined && seq >= model.end.seq) return false
  return seq <= lastSeqOf(model)
}

/** True when the held data of `model` answers the state at `point`. */
export function coversPoint(model: WindowModel, point: Point): boolean {
  return 'at' in point ? coversTs(model, point.at) : coversSeq(model, point.seq)
}

/** True when `seq` lies in the window's range as far as it is known (held or not). */
export function spansSeq(model: WindowModel, seq: number): boolean {
  if (model.status === 'pending' || seq < model.start.seq) return false
  // Open, or cut short (it may end anywhere after its last held entry): only its rest can tell.
  if (model.end === null || model.end === undefined) return true
  return seq < model.end.seq
}

/**
 * True when `point` lies in the window's range as far as it is known, though not all of it is
 * held: fetching the rest (`after=` the last held entry) answers it.
 */
export function spans(model: WindowModel, point: Point): boolean {
  if (model.status === 'pending' || model.status === 'committed') return false
  if ('seq' in point) return spansSeq(model, point.seq)
  if (point.at < model.start.ts) return false
  if (model.end === null || model.end === undefined) return true
  return point.at < model.end.ts
}

/** True when `point` lies in a known extent `[start, end)`. */
export function inSpan(span: { start: Bound; end: Bound | null }, point: Point): boolean {
  if ('seq' in point) return point.seq >= span.start.seq && (span.end === null || point.seq < span.end.seq)
  return point.at >= span.start.ts && (span.end === null || point.at < span.end.ts)
}

/** The state at `ts` from a window that covers it. */
export function stateAtTs(content: WindowContent, ts: number): Snapshot<Json> {
  return replay(content.start, content.entries, entriesUpToTs(content.entries, ts))
}

/** The state after entry `seq` from a window that covers it. */
export function stateAtSeq(content: WindowContent, seq: number): Snapshot<Json> {
  return replay(content.start, content.entries, entriesUpToSeq(content.entries, seq))
}
