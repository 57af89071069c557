/**
 * The life of one window, as a complete transition table: every status × event cell is either a
 * rule or explicitly impossible (`SPEC.md` lists them; a test checks each). Pure: no I/O, no clock.
 *
 *                 received(whole, closed)                                   received(rest)
 *     ask ──► pending ─────────────────────────────────────────────────────────────► committed
 *               │  │ received(open, or cut short)                    ┌──────────────► ▲   ▲
 *        failed │  ▼                                                 │ bound, entry   │   │
 *               │ pulling ◄── failed: stays (held entries are facts) ┘ (to its end)   │   │
 *               ▼  │  ▲                                                               │   │
 *           removed│  │ untailed                                                      │   │
 *           tailed │  │                                   bound(b): end = b           │   │
 *                  ▼  │   entry: grows   ┌────────────────────────────────────────────┘   │
 *                 live ──────────────────┘  (the next live window starts at b, held)      │
 *                                                          received(end set) ─────────────┘
 *
 * - `pending`: asked for by a point (a time or a seq); nothing about it is known yet.
 * - `pulling`: its start and a prefix of its entries are held; `end` is a bound (closed, entries
 *   missing), `null` (the open window, as of the answer) or `undefined` (not known: a fetch was cut
 *   before the end). The next fetch asks only for the entries `after` the last one held.
 * - `committed`: every entry and the end bound are held. Immutable.
 * - `live`: the open window, tailed by a connected live cursor; grows by `entry`, closes by `bound`.
 */
import { ErrorCode, StateStreamError } from '@statestream/common'
import type { Bound, Entry, Snapshot } from '@statestream/common'

/** Window statuses, as an `as const` object and the union of its values. */
export const WindowStatus = {
  pending: 'pending',
  pulling: 'pulling',
  committed: 'committed',
  live: 'live',
} as const
export type WindowStatus = (typeof WindowStatus)[keyof typeof WindowStatus]

/** A point of history a window is asked for by. */
export type Point = { at: number } | { seq: number }

/** The data of a window that has any: its start state, the entries held, its end bound if known. */
export interface WindowContent {
  start: Snapshot
  entries: readonly Entry[]
  /** The end bound; `null` for the open window; `undefined` when not known (an answer cut short). */
  end: Bound | null | undefined
}

/** A window in one of its statuses. */
export type WindowModel =
  | { status: 'pending'; point: Point }
  | ({ status: 'pulling' } & WindowContent)
  | ({ status: 'committed' } & WindowContent & { end: Bound })
  | ({ status: 'live' } & WindowContent & { end: null })

/** A window that holds data (every status but `pending`). */
export type HeldModel = Exclude<WindowModel, { status: 'pending' }>

/** What can happen to a window. */
export type WindowEvent =
  /** An answer for it arrived: the window from `start`, all its entries or those after the held ones (or as many as came before a cut). */
  | { type: 'received'; content: WindowContent }
  /** A fetch for it failed with nothing received. */
  | { type: 'failed' }
  /** A connected live cursor took it over (it must be the open window). */
  | { type: 'tailed' }
  /** The live cursor stopped or lost its connection. */
  | { type: 'untailed' }
  /** The live cursor received the next entry. */
  | { type: 'entry'; entry: Entry }
  /** The server closed the window at `bound` (its last entry). */
  | { type: 'bound'; bound: Bound }
  /** The memory budget dropped it. */
  | { type: 'evicted' }

export type WindowEventType = WindowEvent['type']

/** Raised when held data and the server disagree (an event that cannot follow the data held). */
export class WindowConflict extends StateStreamError {
  constructor(message: string) {
    super(ErrorCode.INTERNAL, `window conflict: ${message}`)
  }
}

/** Raised for an event the table marks impossible in a status: a bug of the caller, never of the server. */
export class ImpossibleTransition extends StateStreamError {
  constructor(status: WindowStatus, event: WindowEventType, why: string) {
    super(ErrorCode.INTERNAL, `no window transition for ${event} in ${status}: ${why}`)
  }
}

/** One cell of the table: a rule giving the next model (`undefined`: the window is removed), or why the event cannot happen. */
export type Cell<M extends WindowModel> = ((model: M, event: WindowEvent) => WindowModel | undefined) | { impossible: string }

type Table = { [S in WindowStatus]: { [E in WindowEventType]: Cell<Extract<WindowModel, { status: S }>> } }

const same = <M extends WindowModel>(model: M): M => model
const removed = (): undefined => undefined
const impossible = (why: string): { impossible: string } => ({ impossible: why })

/** The complete table: `TRANSITIONS[status][event]`. */
export const TRANSITIONS: Table = {
  pending: {
    received: (_model, event) => settle(contentOf(event, 'received')),
    failed: removed,
    tailed: impossible('a pending window holds nothing to tail'),
    untailed: impossible('only a live window is tailed'),
    entry: impossible('a tail only feeds a window it holds'),
    bound: impossible('a tail only closes a window it holds'),
    evicted: impossible('only held windows count against the budget'),
  },
  pulling: {
    received: (model, event) => settle(merge(model, contentOf(event, 'received'))),
    failed: same,
    tailed: (model) => {
      if (model.end !== null) throw new ImpossibleTransition('pulling', 'tailed', 'a tail only takes over the open window')
      return { ...model, status: 'live', end: null }
    },
    untailed: impossible('only a live window is tailed'),
    entry: (model, event) => settle(grow(model, entryOf(event))),
    bound: (model, event) => close(model, boundOf(event)),
    evicted: removed,
  },
  committed: {
    // Immutable: a late or repeated answer, entry or bound changes nothing (a conflicting one is a conflict).
    received: (model, event) => (check(model, contentOf(event, 'received')), model),
    failed: same,
    tailed: impossible('a committed window is closed: the open one starts at its end'),
    untailed: impossible('only a live window is tailed'),
    entry: (model, event) => {
      const entry = entryOf(event)
      if (entry.seq > model.end.seq) throw new WindowConflict(`entry ${entry.seq} is past the end ${model.end.seq}`)
      return model
    },
    bound: (model, event) => {
      const bound = boundOf(event)
      if (bound.seq !== model.end.seq) throw new WindowConflict(`bound ${bound.seq} differs from the end ${model.end.seq}`)
      return model
    },
    evicted: removed,
  },
  live: {
    received: (model, event) => {
      const merged = merge(model, contentOf(event, 'received'))
      return merged.end === null ? { ...merged, status: 'live', end: null } : settle(merged)
    },
    failed: same,
    tailed: same,
    untailed: (model) => ({ ...model, status: 'pulling' }),
    entry: (model, event) => ({ ...grow(model, entryOf(event)), status: 'live', end: null }),
    bound: (model, event) => close(model, boundOf(event)),
    evicted: impossible('a tailed window is in use'),
  },
}

/** The next model of a window after `event`; `undefined` when the window is removed. */
export function transition(model: WindowModel, event: WindowEvent): WindowModel | undefined {
  const cell = (TRANSITIONS[model.status] as Record<WindowEventType, Cell<WindowModel>>)[event.type]
  if (typeof cell !== 'function') throw new ImpossibleTransition(model.status, event.type, cell.impossible)
  return cell(model, event)
}

/** Seq of the last entry held (the start's seq when none). */
export function lastSeqOf(content: WindowContent): number {
  return content.entries[content.entries.length - 1]?.seq ?? content.start.seq
}

/** Ts of the last entry held (the start's ts when none). */
export function lastTsOf(content: WindowContent): number {
  return content.entries[content.entries.length - 1]?.ts ?? content.start.ts
}

/** The model for content as it now stands: committed when complete, pulling otherwise. */
function settle(content: WindowContent): HeldModel {
  const { start, entries, end } = content
  if (end !== null && end !== undefined && lastSeqOf(content) === end.seq) return { status: 'committed', start, entries, end }
  return { status: 'pulling', start, entries, end }
}

/** Held content plus received content: the entries after the held ones are appended; a known end wins over an unknown one. */
function merge(held: WindowContent, received: WindowContent): WindowContent {
  if (held.start.seq !== received.start.seq) {
    throw new WindowConflict(`window from ${received.start.seq} merged into window from ${held.start.seq}`)
  }
  // The same start seq at another time: another history of the name (deleted and created again).
  if (held.start.ts !== received.start.ts) {
    throw new WindowConflict(`window from ${held.start.seq} starts at ${received.start.ts}, held as starting at ${held.start.ts}`)
  }
  const last = lastSeqOf(held)
  const fresh = received.entries.filter((entry) => entry.seq > last)
  const first = fresh[0]
  if (first !== undefined && first.seq !== last + 1) throw new WindowConflict(`received entries from ${first.seq}, held up to ${last}`)
  const end = received.end !== undefined && received.end !== null ? received.end : held.end !== undefined ? held.end : received.end
  return { start: held.start, entries: fresh.length === 0 ? held.entries : [...held.entries, ...fresh], end }
}

/** A repeated answer for a committed window must agree with it. */
function check(model: { start: Snapshot; end: Bound }, received: WindowContent): void {
  if (received.start.seq !== model.start.seq) throw new WindowConflict(`window from ${received.start.seq} given for window from ${model.start.seq}`)
  if (received.start.ts !== model.start.ts) {
    throw new WindowConflict(`window from ${model.start.seq} starts at ${received.start.ts}, held as starting at ${model.start.ts}`)
  }
  if (received.end !== undefined && received.end !== null && received.end.seq !== model.end.seq) {
    throw new WindowConflict(`window from ${model.start.seq} ends at ${model.end.seq}, not ${received.end.seq}`)
  }
}

/** The held content with `entry` after it: a repeat is ignored, a gap is a conflict. */
function grow(model: WindowContent, entry: Entry): WindowContent {
  const last = lastSeqOf(model)
  if (entry.seq <= last) return model
  if (entry.seq !== last + 1) throw new WindowConflict(`entry ${entry.seq} does not follow ${last}`)
  if (model.end !== null && model.end !== undefined && entry.seq > model.end.seq) throw new WindowConflict(`entry ${entry.seq} is past the end ${model.end.seq}`)
  return { ...model, entries: [...model.entries, entry] }
}

/** Closes the window at `bound`, which must be its last held entry. */
function close(model: WindowContent, bound: Bound): HeldModel {
  if (lastSeqOf(model) !== bound.seq) throw new WindowConflict(`bound ${bound.seq} is not the last held entry ${lastSeqOf(model)}`)
  return { status: 'committed', start: model.start, entries: model.entries, end: bound }
}

function contentOf(event: WindowEvent, type: 'received'): WindowContent {
  return (event as Extract<WindowEvent, { type: typeof type }>).content
}

function entryOf(event: WindowEvent): Entry {
  return (event as Extract<WindowEvent, { type: 'entry' }>).entry
}

function boundOf(event: WindowEvent): Bound {
  return (event as Extract<WindowEvent, { type: 'bound' }>).bound
}
