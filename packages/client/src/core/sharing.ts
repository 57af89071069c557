/**
 * Structural sharing between held windows. A start state as the server sends it is a full parsed
 * copy: 100 windows of a 1 MB state would take 100 MB. The same state replayed from the committed
 * window before it shares every subtree that window's entries left alone; a state that cannot be
 * replayed (no committed window before it) can still take every equal subtree from the window
 * after it. Each window whose start shares another's counts its start once, in that window's bytes.
 */
import { apply, replay } from '@statestream/common'
import type { Json, Snapshot } from '@statestream/common'
import type { Entry } from '@statestream/common'
import type { HeldModel } from './window-machine.ts'

/** The bookkeeping of one held window that sharing needs. */
export interface Shared {
  id: number
  model: HeldModel
  /** Estimated bytes held. */
  bytes: number
  /** Id of the held window whose entries replayed gave this one's start state, if one did. */
  derivedFrom?: number | undefined
  /** Id of the held window whose structure this one's start shares; its start then counts there. */
  sharedWith?: number | undefined
  /** Bytes of the start state left out of `bytes` while shared (as the server sent it, about). */
  startBytes?: number | undefined
  /** The state after its last held entry, once something replayed it (`seq` says how far). */
  head?: Snapshot | undefined
  /** Readers pinning it: a history that will replay the window before it, so its start waits for that. */
  readers: number
}

/**
 * Makes the start of the window at `index` share structure with its neighbours: after a committed
 * window ending there, derive it from that window (unless a reader pinning it will replay that
 * window anyway: it is derived when the replay ends, or on release); else take every equal subtree
 * from the next window's start. A start that changed passes on down the run of windows after it.
 */
export function shareAt(held: readonly Shared[], index: number): void {
  const slot = held[index]
  if (slot === undefined) return
  const previous = held[index - 1]
  const next = held[index + 1]
  if (previous !== undefined && endsAt(previous, slot)) {
    if (slot.derivedFrom === previous.id) return passDown(held, index, false)
    // Pinned: its reader replays the window before; taking that replay's head costs nothing, a replay here would.
    if (slot.readers > 0 && previous.head?.seq !== slot.model.start.seq) return
    derive(previous, slot)
    return passDown(held, index, true)
  }
  if (next !== undefined && endsAt(slot, next)) shareWithNext(slot, next)
}

/** Passes the start of the window at `index` down the run after it, until one already derived from the one before (every one when `changed`). */
function passDown(held: readonly Shared[], index: number, changed: boolean): void {
  let from = held[index] as Shared
  for (let i = index + 1; i < held.length; i++) {
    const to = held[i] as Shared
    if (!endsAt(from, to) || (!changed && to.derivedFrom === from.id)) return
    if (to.readers > 0) {
      if (to.derivedFrom === from.id) to.derivedFrom = undefined
      return
    }
    derive(from, to)
    changed = true
    from = to
  }
}

/**
 * Replays the held window `slot` from entry index `i` on, from `state` (the state before that
 * entry), calling `visit` with each entry and the state after it until it returns false. A replay
 * that reaches the last entry leaves the head cached, and the window after it (when it starts
 * there) takes that very state as its start: the same value, at no replay of its own.
 */
export function replayHeld(held: readonly Shared[], slot: Shared, i: number, state: Json, visit: (entry: Entry, state: Json) => boolean): void {
  const entries = slot.model.entries
  for (; i < entries.length; i++) {
    const entry = entries[i] as Entry
    const next = apply(state, entry.m)
    if (!visit(entry, next)) return
    state = next
  }
  const last = entries[entries.length - 1]
  slot.head = last === undefined ? slot.model.start : { seq: last.seq, ts: last.ts, state }
  const index = held.indexOf(slot)
  if (index !== -1) shareAt(held, index + 1)
}

/**
 * `fresh` (a JSON value) with every subtree equal to the one at the same place in `shared` taken
 * from `shared`, member order included; `shared` itself when they are equal throughout. Neither is
 * changed: containers that differ are new.
 */
export function shareEqual(fresh: Json, shared: Json): Json {
  if (fresh === shared || typeof fresh !== 'object' || fresh === null) return fresh === shared ? shared : fresh
  if (typeof shared !== 'object' || shared === null) return fresh
  if (Array.isArray(fresh)) {
    if (!Array.isArray(shared)) return fresh
    let same = fresh.length === shared.length
    const out = fresh.map((value, i) => {
      const taken = i < shared.length ? shareEqual(value, shared[i] as Json) : value
      same &&= taken === shared[i]
      return taken
    })
    return same ? shared : out
  }
  if (Array.isArray(shared)) return fresh
  const keys = Object.keys(fresh)
  const sharedKeys = Object.keys(shared)
  let same = keys.length === sharedKeys.length
  const out: { [key: string]: Json } = {}
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string
    const value = fresh[key] as Json
    const taken = Object.hasOwn(shared, key) ? shareEqual(value, shared[key] as Json) : value
    same &&= sharedKeys[i] === key && taken === shared[key]
    // A `__proto__` member must stay an own data property (plain assignment would set the prototype).
    if (key === '__proto__') Object.defineProperty(out, key, { value: taken, writable: true, enumerable: true, configurable: true })
    else out[key] = taken
  }
  return same ? shared : out
}

/** The state after the last held entry of `slot`, replaying only what its cached head lacks. */
export function headOf(slot: Shared): Snapshot {
  const model = slot.model
  const last = model.entries[model.entries.length - 1]
  const seq = last?.seq ?? model.start.seq
  if (slot.head?.seq === seq) return slot.head
  const from = slot.head !== undefined && slot.head.seq > model.start.seq && slot.head.seq < seq ? slot.head : model.start
  const rest = model.entries.filter((entry) => entry.seq > from.seq)
  slot.head = from === model.start && rest.length === 0 ? model.start : replay(from, rest)
  return slot.head
}

/** True when `from` is committed and ends where `to` starts: `to`'s start is `from`'s end state. */
export function endsAt(from: Shared, to: Shared): boolean {
  return from.model.status === 'committed' && from.model.end.seq === to.model.start.seq
}

/**
 * Replaces the start state of `to` with the end state of committed `from` (`endsAt`): the same
 * value, but made by replaying `from`'s entries onto its start (or taken from its cached head), so
 * it shares every subtree they left untouched.
 */
export function derive(from: Shared, to: Shared): void {
  const start = to.model.start
  to.model = { ...to.model, start: { seq: start.seq, ts: start.ts, state: headOf(from).state } }
  // Its head was replayed from the old start: it would share nothing with the new one.
  to.head = undefined
  to.derivedFrom = from.id
  countShared(to, from)
}

/** `slot`'s start takes every equal subtree from `next`'s start (they are states of one stream, close in time). */
export function shareWithNext(slot: Shared, next: Shared): void {
  const start = slot.model.start
  slot.model = { ...slot.model, start: { ...start, state: shareEqual(start.state, next.model.start.state) } }
  slot.head = undefined
  countShared(slot, next)
}

/** `slot`'s start now shares its structure with `other`: its bytes count only the rest. */
function countShared(slot: Shared, other: Shared): void {
  if (slot.sharedWith === undefined && slot.startBytes === undefined) {
    const bytes = Math.min(slot.bytes, JSON.stringify(slot.model.start.state).length)
    slot.startBytes = bytes
    slot.bytes -= bytes
  }
  slot.sharedWith = other.id
}

/** Window `gone` was dropped: the windows sharing its structure own their start states alone again. Returns the bytes added back. */
export function unshare(held: readonly Shared[], gone: Shared): number {
  let added = 0
  for (const slot of held) {
    if (slot.sharedWith !== gone.id) continue
    added += slot.startBytes ?? 0
    slot.bytes += slot.startBytes ?? 0
    slot.sharedWith = undefined
    slot.startBytes = undefined
    if (slot.derivedFrom === gone.id) slot.derivedFrom = undefined
  }
  return added
}
