/**
 * What a request needs of a stream's window index, decided without I/O: a held window answers it
 * (`hit`), a held window answers it once its rest is fetched (`resume`, `after=` its last entry),
 * a request under way may be for the same window (`wait`, then look again), or a fetch
 * (`fetch`). Requests certainly for other windows never wait on each other.
 */
import { coversPoint, coversTs, inSpan, spans } from './cover.ts'
import { lastSeqOf } from './window-machine.ts'
import type { Bound } from '@statestream/common'
import type { Point } from './window-machine.ts'
import type { Held, Pending, Span, WindowIndex } from './window-index.ts'

/** What to do for a point. */
export type Plan =
  | { kind: 'hit'; held: Held }
  /** Before the stream existed: no state. */
  | { kind: 'before' }
  /** Held in part: fetch only the entries after the last held one. */
  | { kind: 'resume'; held: Held }
  /** A request under way may be for the same window: wait for it, then look again. */
  | { kind: 'wait'; pending: Pending }
  | { kind: 'fetch' }

/** What to do for `point`: with `complete`, a held window still pulling is brought up to date first. */
export function plan(index: WindowIndex, point: Point, complete: boolean): Plan {
  if ('at' in point && index.created !== undefined && point.at < index.created.ts) return { kind: 'before' }
  const last = finalOf(index, point)
  if (last !== undefined) return { kind: 'hit', held: last }
  const covering = coveringOf(index, point)
  if (covering !== undefined && (!complete || covering.model.status !== 'pulling')) return { kind: 'hit', held: covering }
  const partial = covering ?? index.held.find((slot) => spans(slot.model, point))
  if (partial !== undefined) return { kind: 'resume', held: partial }
  return waitOrFetch(index, point, undefined)
}

/**
 * What to do for the window a listing gave: held whole (or far enough), resumed, waited for, or
 * fetched. A reader that needs it only up to `to` has enough once the held entries answer the
 * state at `to` (entries held past it, in an open window too).
 */
export function planSpan(index: WindowIndex, span: Span, to?: number): Plan {
  const held = index.held.find((slot) => slot.model.start.seq === span.start.seq)
  if (held !== undefined) {
    const { status } = held.model
    const enough = (span.end !== null && lastSeqOf(held.model) >= span.end.seq) || (to !== undefined && coversTs(held.model, to))
    return status === 'committed' || status === 'live' || enough ? { kind: 'hit', held } : { kind: 'resume', held }
  }
  return waitOrFetch(index, { seq: span.start.seq }, span)
}

/** For a point at or past a closed stream's end: its last window, when held whole. */
function finalOf(index: WindowIndex, point: Point): Held | undefined {
  const final = index.final
  if (final === undefined || !pastEnd(final, point)) return undefined
  return index.held.find((slot) => slot.model.status === 'committed' && slot.model.end.seq === final.seq)
}

/** True when `point` is at or past `end` (no window that ends there can cover it, unless the stream ends there). */
export function pastEnd(end: Bound, point: Point): boolean {
  return 'at' in point ? point.at >= end.ts : point.seq >= end.seq
}

function coveringOf(index: WindowIndex, point: Point): Held | undefined {
  // The last covering window wins: with several snapshots in one millisecond, the later is "the" window.
  for (let i = index.held.length - 1; i >= 0; i--) {
    const slot = index.held[i] as Held
    if (coversPoint(slot.model, point)) return slot
  }
  return undefined
}

function waitOrFetch(index: WindowIndex, point: Point, span: Span | undefined): Plan {
  const other = index.pending.find((pending) => mayBeSame(index, pending, point, span))
  return other === undefined ? { kind: 'fetch' } : { kind: 'wait', pending: other }
}

/** Might `pending` be fetching the window of `point` (whose extent may be known)? */
function mayBeSame(index: WindowIndex, pending: Pending, point: Point, span: Span | undefined): boolean {
  if (pending.span !== undefined) return inSpan(pending.span, point)
  if (span !== undefined) return inSpan(span, pending.point)
  // Neither extent is known: within one gap between held windows, they may well be one window.
  return gapOf(index, point) === gapOf(index, pending.point)
}

/** Identity of the held window just before `point`: pendings in the same gap may be one window. */
function gapOf(index: WindowIndex, point: Point): number {
  let gap = -1
  for (const slot of index.held) {
    if ('at' in point ? slot.model.start.ts <= point.at : slot.model.start.seq <= point.seq) gap = slot.id
  }
  return gap
}
