/**
 * Committed windows kept as the text they arrived in. A parsed window is thousands of small
 * objects (each entry, its mutation, its `ts`): about 1.7× the bytes of its text, and every one of
 * them is marked again by each full garbage collection. The response text is one flat string,
 * which the collector never looks into, so the store's byte budget is what it really holds (a
 * 1M-entry `history()` keeping 16 MiB of windows held 28.7 MB of heap parsed, 17.5 MB as text).
 *
 * A frozen window is a committed `WindowModel` whose `entries` are parsed from that text when
 * read, and shared while anyone still holds them (a weak reference): the caller that fetched the
 * window reads the very array it was parsed into, and a burst of reads parses once. The state
 * after its last entry is kept (it shares nearly everything with the start state), so the window
 * after it derives its start without parsing.
 *
 * A window is frozen only when its entries are most of its text: the text also holds the start
 * state, which the store keeps parsed (shared with the windows around it), so a window of a large
 * state and few entries stays parsed.
 */
import { ErrorCode, StateStreamError, replay } from '@statestream/common'
import type { Entry, Json, Snapshot, WindowData } from '@statestream/common'
import type { WindowModel } from './window-state.ts'

type Committed = Extract<WindowModel, { state: 'committed' }>

/** Where a frozen window's entries come from. */
interface Source {
  /** The whole response body of the window (one fetch, every entry). */
  text: string
  /** The entries, while anyone holds them. */
  parsed: WeakRef<readonly Entry[]> | undefined
  count: number
  last: number
  /** The state after the last entry (see `endStateOf`). */
  endState: Json
}

const sources = new WeakMap<object, Source>()

/**
 * `model` kept as `text` (the body of the one fetch that gave all of its entries), or `model`
 * itself when that would not save memory. `shareParsed: false` forgets `model.entries` at once
 * (the next read parses the text), as a collection would.
 */
export function freeze(model: Committed, text: string, { shareParsed = true } = {}): Committed {
  if (sources.has(model) || model.entries.length === 0) return model
  // The server writes `start` (with its state) before `entries`: the text before them is the state.
  const at = text.indexOf('"entries":[')
  if (at === -1 || at > text.length / 2) return model
  const entries = model.entries
  const endState = replay(model.start, entries).state
  const parsed = shareParsed ? new WeakRef(entries) : undefined
  const source: Source = { text, parsed, count: entries.length, last: (entries.at(-1) as Entry).seq, endState }
  return frozenModel(model.start, model.end, source)
}

/** `model` with another start (a start state re-derived to share structure), frozen if it was. */
export function withStart<M extends Exclude<WindowModel, { state: 'pending' }>>(model: M, start: Snapshot): M {
  const source = sources.get(model)
  if (source === undefined) return { ...model, start }
  return frozenModel(start, model.end as Committed['end'], source) as M
}

/** True when `model` is kept as text. */
export function isFrozen(model: object): boolean {
  return sources.has(model)
}

/** How many entries `model` holds, without parsing a frozen one. */
export function entryCount(model: { entries: readonly Entry[] }): number {
  return sources.get(model)?.count ?? model.entries.length
}

/**
 * The state after a frozen window's last entry, when it was worked out while its entries were at
 * hand; the next window's start is derived from it without parsing the text again.
 */
export function endStateOf(model: object): Json | undefined {
  return sources.get(model)?.endState
}

function frozenModel(start: Snapshot, end: Committed['end'], source: Source): Committed {
  const model: Committed = {
    state: 'committed',
    start,
    end,
    get entries(): readonly Entry[] {
      return thaw(source)
    },
  }
  sources.set(model, source)
  return model
}

function thaw(source: Source): readonly Entry[] {
  const held = source.parsed?.deref()
  if (held !== undefined) return held
  const entries = (JSON.parse(source.text) as WindowData).entries
  if (entries.length !== source.count || entries.at(-1)?.seq !== source.last) {
    throw new StateStreamError(ErrorCode.INTERNAL, 'a window kept as text no longer parses to its entries')
  }
  source.parsed = new WeakRef(entries)
  return entries
}
