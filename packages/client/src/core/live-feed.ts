/**
 * How a live tail feeds a stream's window index: the open window it receives first (or resumes
 * from), each entry, each bound (the server snapshotted: the open window closes there and a new
 * one starts, from data already held), and the final bound of a closed stream (the open window
 * closes there and none follows). Pure and synchronous, like the index.
 */
import { apply } from '@statestream/common'
import type { Bound, Entry, WindowData } from '@statestream/common'
import { headOf } from './sharing.ts'
import { WindowConflict, lastSeqOf } from './window-machine.ts'
import type { Held, WindowIndex } from './window-index.ts'

/** A tail received the open window (the first event of a fresh connection). */
export function liveWindow(index: WindowIndex, data: WindowData, bytes: number): Held | undefined {
  if (data.start === null) return undefined
  const slot = index.ingest({ start: data.start, entries: data.entries, end: data.end }, bytes)
  if (index.tailers > 0) markLive(index)
  return slot
}

/** A tail connected (or resumed): the open window is live while at least one tail is. */
export function tailed(index: WindowIndex): void {
  index.tailers += 1
  markLive(index)
}

/** A tail stopped or lost its connection: the open window stays held, resumable. */
export function untailed(index: WindowIndex): void {
  index.tailers = Math.max(0, index.tailers - 1)
  if (index.tailers > 0) return
  for (const slot of index.held) if (slot.model.status === 'live') index.apply(slot, { type: 'untailed' })
}

/**
 * A tail received an entry: it joins the window holding the one before it (opening the next
 * window when that one just closed). Throws `WindowConflict` when it follows nothing held.
 */
export function liveEntry(index: WindowIndex, entry: Entry, bytes: number): Held {
  const prev = entry.seq - 1
  const holding = index.held.find((slot) => {
    const { model } = slot
    return model.start.seq <= prev && lastSeqOf(model) >= prev && (model.end === null || model.end === undefined || model.end.seq > prev)
  })
  const slot = holding ?? openAfterEnd(index, prev)
  if (slot === undefined) throw new WindowConflict(`entry ${entry.seq} follows no held window`)
  if (entry.seq <= lastSeqOf(slot.model)) return slot
  // The head moves by one entry: apply it to the cached head instead of replaying the window.
  const head = slot.head !== undefined && slot.head.seq === prev ? slot.head : headOf(slot)
  index.apply(slot, { type: 'entry', entry })
  slot.bytes += bytes
  slot.head = { seq: entry.seq, ts: entry.ts, state: apply(head.state, entry.m) }
  return slot
}

/** A tail was told the open window closed at `bound`: commit it, and open the next one there. */
export function liveBound(index: WindowIndex, bound: Bound): void {
  const ended = index.held.find((slot) => slot.model.end !== null && slot.model.end !== undefined && slot.model.end.seq === bound.seq)
  // Already closed by a fetch: only the next open window is missing.
  if (ended !== undefined) return void openAfter(index, ended)
  const open = index.held.find((slot) => slot.model.start.seq < bound.seq && (slot.model.end === null || slot.model.end === undefined))
  if (open === undefined) throw new WindowConflict(`bound ${bound.seq} closes no held window`)
  if (lastSeqOf(open.model) < bound.seq) throw new WindowConflict(`bound ${bound.seq} is ahead of the held entries`)
  if (lastSeqOf(open.model) === bound.seq && open.model.end === null) {
    // The usual case: the bound right after its entry. The next window starts from the head.
    index.apply(open, { type: 'bound', bound })
    openAfter(index, open)
    return
  }
  index.split(open, bound)
}

/**
 * A tail was told the stream is closed at `bound`: its open window closes there and no window
 * follows — one opened there from held data by an earlier bound at the same entry goes. Returns
 * the last window (`undefined` when none of it is held). Throws `WindowConflict` when held entries
 * run past the end.
 */
export function liveEnd(index: WindowIndex, bound: Bound): Held | undefined {
  index.final = bound
  const ending = index.held.find((slot) => slot.model.end !== null && slot.model.end !== undefined && slot.model.end.seq === bound.seq)
  if (ending === undefined) {
    const open = index.open
    if (open === undefined) return undefined
    if (lastSeqOf(open.model) !== bound.seq) throw new WindowConflict(`the stream ends at ${bound.seq}, the open window holds up to ${lastSeqOf(open.model)}`)
    index.apply(open, { type: 'bound', bound })
    return open
  }
  const after = index.held.find((slot) => slot !== ending && slot.model.start.seq === bound.seq && slot.model.end === null)
  if (after !== undefined) {
    if (after.model.entries.length > 0) throw new WindowConflict(`the stream ends at ${bound.seq}, a window after it holds entries`)
    if (after.model.status === 'live') index.apply(after, { type: 'untailed' })
    index.apply(after, { type: 'evicted' })
  }
  return ending
}

/** The open window starting at the end of committed `ended`, made from held data (its start is `ended`'s head). */
function openAfter(index: WindowIndex, ended: Held): Held {
  const end = ended.model.end as Bound
  const existing = index.held.find((slot) => slot.model.start.seq === end.seq)
  if (existing !== undefined) return existing
  const start = headOf(ended)
  const status = index.tailers > 0 ? 'live' : 'pulling'
  return index.insert({ status, start, entries: [], end: null }, 0, { derivedFrom: ended })
}

/** The next window after the committed one ending at `seq`, if such a window is held. */
function openAfterEnd(index: WindowIndex, seq: number): Held | undefined {
  const ended = index.held.find((slot) => slot.model.status === 'committed' && slot.model.end.seq === seq)
  return ended === undefined ? undefined : openAfter(index, ended)
}

function markLive(index: WindowIndex): void {
  const open = index.open
  if (open !== undefined && open.model.status === 'pulling') index.apply(open, { type: 'tailed' })
}
