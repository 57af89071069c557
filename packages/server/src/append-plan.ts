/**
 * What an append does, decided without I/O: from a stream's head and a request body, the entries
 * to store (seq, ts, gpos, stored text or bytes), the snapshots the policy calls for, the byte
 * marks, and the new head. A storage engine only persists a plan, in one transaction, and applies
 * its head once that commits; a plan that throws stores nothing.
 */
import { isAscii } from 'node:buffer'
import {
  ErrorCode,
  MAX_JSON_DEPTH,
  StateStreamError,
  apply,
  inSequence,
  mutationOf,
  parseJsonBody,
  splitMessages,
  stringifyJson,
  validateMessage,
} from '@statestream/common'
import type { Json, SnapshotPolicy } from '@statestream/common'
import { elementTexts } from './element-text.ts'
import type { StoredEntry, StreamKind } from './stream-types.ts'

/**
 * A byte mark is stored after every this many entries (migration 4 of `db.ts` spells it too): the
 * log's size at any seq is one mark and fewer entries away.
 */
export const MARK_INTERVAL = 1024

/** A stream's head, as a plan starts from it. */
export interface StreamHead {
  kind: StreamKind
  /** The stream's messages are JSON (`application/json`). */
  json: boolean
  seq: number
  ts: number
  /** Bytes of the whole log (inherited entries included). */
  totalBytes: number
  lastSnapshot: SnapshotPoint
  policy: SnapshotPolicy
  /** The head state of a state stream. */
  state?: Json
  /**
   * Estimated size of `state`'s JSON text (its snapshot's text plus every mutation's since: it can
   * only overstate), what the head-state cache counts it as.
   */
  stateBytes?: number
}

/** Where a snapshot is: after entry `seq`, with the log's size then. */
export interface SnapshotPoint {
  seq: number
  ts: number
  cumBytes: number
}

/** A snapshot to store: its point and the state's JSON text. */
export interface PlannedSnapshot extends SnapshotPoint {
  state: string
}

/** What to persist for one append. */
export interface AppendPlan {
  entries: StoredEntry[]
  snapshots: PlannedSnapshot[]
  /** Byte marks: the log's size after every `MARK_INTERVAL`-th entry. */
  marks: Array<{ seq: number; cumBytes: number }>
  /** The head after the append (the input head is never changed). */
  head: StreamHead
  /** The last global position the plan assigned (the input one when it stores nothing). */
  gpos: number
}

/** Options of `planAppend`. */
export interface PlanOptions {
  /** The store's clock, ms. */
  now: number
  /** The last global position assigned so far. */
  gpos: number
  /** The body of a create: an empty JSON array is then allowed (it stores nothing). */
  creating: boolean
  /**
   * The server's own body (`PUT /v1/state`'s mutation, made from a state already checked): parsed
   * without the request limits, which its wrapper's levels may pass.
   */
  trusted?: boolean
}

/**
 * Plans the append of a request body: one entry for bytes, one per message for JSON (an array is
 * flattened one level), each mutation of a state stream validated and applied. Throws the
 * request's error when any part of it is refused.
 */
export function planAppend(head: StreamHead, body: Buffer, options: PlanOptions): AppendPlan {
  const builder = new PlanBuilder(head, options.gpos)
  if (!head.json) {
    if (body.length === 0) throw new StateStreamError(ErrorCode.EMPTY_BODY, 'an append needs a non-empty body')
    builder.store(body, body.length, Math.max(options.now, head.ts))
    return builder.plan()
  }
  const text = body.toString('utf8')
  const { value: parsed, members } = options.trusted === true ? { value: JSON.parse(text) as Json, members: undefined } : parseJsonBody(text)
  const messages = splitMessages(parsed)
  if (messages.length === 0 && !options.creating) {
    throw new StateStreamError(ErrorCode.EMPTY_BODY, 'an append of an empty JSON array stores nothing')
  }
  // Each message's own text, where storing it is the same as serializing it again.
  const texts = Array.isArray(parsed) ? elementTexts(text, messages.length, members) : undefined
  // An ASCII body without `\u` escapes parses to ASCII strings only, and JSON.stringify writes
  // ASCII for them: each stored text is then as many bytes as characters, with no count needed.
  const ascii = isAscii(body) && !body.includes('\\u')
  const size = (data: string): number => (ascii ? data.length : Buffer.byteLength(data))
  let state = head.state
  // One sequence: the containers a batch creates are updated in place by its later messages; the
  // head state it started from is never changed, so a refused batch leaves it intact.
  inSequence(() =>
    messages.forEach((value, index) => {
      if (head.kind !== 'state' || state === undefined) {
        const data = texts?.[index] ?? JSON.stringify(value)
        builder.store(data, size(data), Math.max(options.now, builder.ts))
        return
      }
      const message = validateMessage(value, index)
      if (message.ts !== undefined && message.ts < builder.ts) {
        throw new StateStreamError(
          ErrorCode.TS_REGRESSION,
          `message ${index}: ts ${message.ts} is earlier than the stream's last ts ${builder.ts}`,
        )
      }
      const mutation = mutationOf(message)
      try {
        // No state deeper than the limit is ever made: everything that reads it stays safe.
        state = apply(state, mutation, MAX_JSON_DEPTH)
      } catch (error) {
        if (error instanceof StateStreamError) {
          throw new StateStreamError(error.code, `message ${index}: ${error.message}`, { cause: error })
        }
        throw error
      }
      const own = mutation === value ? texts?.[index] : undefined
      const data = own ?? JSON.stringify(mutation)
      builder.store(data, size(data), message.ts ?? Math.max(options.now, builder.ts))
      if (snapshotDue(builder.head, head.policy)) builder.snapshot(state)
    }),
  )
  return builder.plan(state)
}

/** Plans one entry of raw bytes at `ts` (a fork's copy of part of its source's next entry). */
export function planBytes(head: StreamHead, data: Buffer, ts: number, gpos: number): AppendPlan {
  const builder = new PlanBuilder(head, gpos)
  builder.store(data, data.length, Math.max(ts, head.ts))
  return builder.plan()
}

/**
 * The snapshot that closing a state stream takes: its open window ends at the last entry, so the
 * window becomes immutable like every closed one. None when a snapshot is already there (or for
 * a plain stream).
 */
export function planClose(head: StreamHead): PlannedSnapshot | undefined {
  if (head.kind !== 'state' || head.state === undefined || head.seq === head.lastSnapshot.seq) return undefined
  return { seq: head.seq, ts: head.ts, cumBytes: head.totalBytes, state: stringifyJson(head.state) }
}

/** True when the policy calls for a snapshot at the head: any of its limits reached since the last one. */
export function snapshotDue(head: Pick<StreamHead, 'seq' | 'ts' | 'totalBytes' | 'lastSnapshot'>, policy: SnapshotPolicy): boolean {
  const last = head.lastSnapshot
  return head.seq - last.seq >= policy.entries || head.totalBytes - last.cumBytes >= policy.bytes || head.ts - last.ts >= policy.ms
}

/** Accumulates one plan's rows. */
class PlanBuilder {
  readonly #start: StreamHead
  readonly head: { seq: number; ts: number; totalBytes: number; lastSnapshot: SnapshotPoint; stateBytes: number }
  readonly #entries: StoredEntry[] = []
  readonly #snapshots: PlannedSnapshot[] = []
  readonly #marks: Array<{ seq: number; cumBytes: number }> = []
  #gpos: number

  constructor(head: StreamHead, gpos: number) {
    this.#start = head
    this.head = { seq: head.seq, ts: head.ts, totalBytes: head.totalBytes, lastSnapshot: head.lastSnapshot, stateBytes: head.stateBytes ?? 0 }
    this.#gpos = gpos
  }

  get ts(): number {
    return this.head.ts
  }

  store(data: string | Buffer, bytes: number, ts: number): void {
    const head = this.head
    head.seq += 1
    head.ts = ts
    head.totalBytes += bytes
    head.stateBytes += bytes
    this.#gpos += 1
    this.#entries.push({ seq: head.seq, ts, gpos: this.#gpos, data })
    if (head.seq % MARK_INTERVAL === 0) this.#marks.push({ seq: head.seq, cumBytes: head.totalBytes })
  }

  snapshot(state: Json): void {
    const point = { seq: this.head.seq, ts: this.head.ts, cumBytes: this.head.totalBytes }
    // A state stored before the depth limit existed may be deeper than JSON.stringify goes.
    const text = stringifyJson(state)
    this.#snapshots.push({ ...point, state: text })
    this.head.lastSnapshot = point
    this.head.stateBytes = text.length
  }

  plan(state?: Json): AppendPlan {
    const head: StreamHead = { ...this.#start, ...this.head }
    if (state !== undefined) head.state = state
    return { entries: this.#entries, snapshots: this.#snapshots, marks: this.#marks, head, gpos: this.#gpos }
  }
}
