/**
 * Where a stream's log lives. A stream created by a fork reads its history through to its
 * source (and its source's source) instead of copying it: its log is a chain of segments, each a
 * seq range of one stored stream. Offsets are shared along the chain (a fork's first own entry
 * follows the fork point), so a read of seqs `(a, b]` is the concatenation of the segments'
 * slices, oldest first.
 *
 *   source   ─ 1 2 3 4 5 6 7 8 ─────────────         (its own segment: (0, ∞))
 *   fork@5   ─ 1 2 3 4 5 │ 6' 7' ───────             [(source, 0, 5], (fork, 5, ∞)]
 *   fork@6'  ─ 1 2 3 4 5 │ 6' │ 7'' ────             [(source, 0, 5], (fork, 5, 6], (fork2, 6, ∞)]
 *
 * Snapshots (and byte marks) follow their entries: one taken after entry `s` belongs to the
 * segment holding `s`. A source may still take a snapshot at its head after a fork was made there
 * (closing it does), which must not split the fork's windows after the fact: each inherited
 * segment also bounds the snapshots it lends (`snapHi`), at what the source had when the fork was
 * made.
 *
 * Pure: the chain is built from the streams' fork columns, and everything here is arithmetic.
 */

/** No upper bound: a stream's own segment runs on with its appends. */
export const OPEN_END = Number.MAX_SAFE_INTEGER

/** Entries `lo < seq ≤ hi` of stream `id`, with its snapshots `lo < seq ≤ snapHi` (seq 0 too for the root). */
export interface Segment {
  /** The stored stream whose rows these are. */
  readonly id: number
  readonly lo: number
  readonly hi: number
  /** Last seq whose snapshot this segment lends (at most `hi`). */
  readonly snapHi: number
  /** The first segment of a chain: it holds the initial snapshot at seq 0. */
  readonly root: boolean
}

/** The log of a stream that is no fork: all of its own rows. */
export function ownLineage(id: number): Segment[] {
  return [{ id, lo: 0, hi: OPEN_END, snapHi: OPEN_END, root: true }]
}

/**
 * The log of stream `id`, forked from a stream whose log is `source` after its entry `forkSeq`,
 * when the last snapshot the source had at or before `forkSeq` was at `forkSnapSeq`.
 */
export function forkLineage(source: readonly Segment[], id: number, forkSeq: number, forkSnapSeq: number): Segment[] {
  const inherited: Segment[] = []
  for (const segment of source) {
    const hi = Math.min(segment.hi, forkSeq)
    // A segment wholly after the fork point lends nothing; the root always keeps its snapshot 0.
    if (hi <= segment.lo && !segment.root) continue
    inherited.push({ ...segment, hi, snapHi: Math.min(segment.snapHi, forkSnapSeq, hi) })
  }
  return [...inherited, { id, lo: forkSeq, hi: OPEN_END, snapHi: OPEN_END, root: false }]
}

/** The segment holding entry `seq` (`seq ≥ 1`), or `undefined` past every segment. */
export function segmentOf(segments: readonly Segment[], seq: number): Segment | undefined {
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i] as Segment
    if (seq > segment.lo && seq <= segment.hi) return segment
  }
  return undefined
}

/** The slices of `segments` that hold entries `after < seq ≤ upto`, oldest first, as `(id, lo, hi]`. */
export function slices(segments: readonly Segment[], after: number, upto: number): Array<{ id: number; lo: number; hi: number }> {
  const out: Array<{ id: number; lo: number; hi: number }> = []
  for (const segment of segments) {
    const lo = Math.max(segment.lo, after)
    const hi = Math.min(segment.hi, upto)
    if (hi > lo) out.push({ id: segment.id, lo, hi })
  }
  return out
}

/**
 * The ranges of snapshot seqs each segment lends within `[from, upto]`, newest first, as
 * inclusive `[lo, hi]` (the root's starts at 0).
 */
export function snapshotRanges(segments: readonly Segment[], from: number, upto: number): Array<{ id: number; lo: number; hi: number }> {
  const out: Array<{ id: number; lo: number; hi: number }> = []
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i] as Segment
    const lo = Math.max(segment.root ? 0 : segment.lo + 1, from)
    const hi = Math.min(segment.snapHi, upto)
    if (hi >= lo) out.push({ id: segment.id, lo, hi })
  }
  return out
}

/** The ids of the stored streams a log reads from (its own last). */
export function storedIds(segments: readonly Segment[]): number[] {
  return [...new Set(segments.map((segment) => segment.id))]
}
