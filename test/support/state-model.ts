/**
 * A reader's materialised view of one state stream, built from `/v1/live/<name>` events exactly
 * as a client would, checking the contract as it goes: one window first (unless resuming), then
 * entries with gapless seqs (`id:` = seq), and each `bound` right after the entry it closes at.
 */
import { apply } from '@statestream/common'
import type { Json, Mutation } from '@statestream/common'
import { expect } from 'vitest'
import type { SseEvent, SseReader } from './sse.ts'

interface WireEntry {
  seq: number
  ts: number
  m: Mutation
}

interface WireWindow {
  stream: string
  start: { seq: number; ts: number; state: Json } | null
  entries: WireEntry[]
  end: { seq: number; ts: number } | null
}

export class StateModel {
  state: Json | undefined
  /** Last seq applied (-1 before any data). */
  seq: number
  windows = 0
  /** Seqs of entry events, in arrival order. */
  readonly seqs: number[] = []
  /** Seqs of bound events, in arrival order. */
  readonly bounds: number[] = []
  #previous: SseEvent | undefined

  /** A fresh model, or one resuming from a known state after `seq`. */
  constructor(resume?: { state: Json; seq: number }) {
    this.state = resume?.state
    this.seq = resume?.seq ?? -1
  }

  /** Applies one event; throws (a failed expectation) when it breaks the contract. */
  apply(event: SseEvent): void {
    switch (event.event) {
      case 'window': {
        expect(this.windows, 'a window only as the first event').toBe(0)
        expect(this.seq, 'no window when resuming').toBe(-1)
        this.windows += 1
        const window = JSON.parse(event.data) as WireWindow
        expect(window.end).toBeNull()
        let state: Json = window.start?.state ?? {}
        let seq = window.start?.seq ?? 0
        for (const entry of window.entries) {
          expect(entry.seq).toBe(seq + 1)
          state = apply(state, entry.m)
          seq = entry.seq
        }
        expect(event.id).toBe(String(seq))
        this.state = state
        this.seq = seq
        break
      }
      case 'entry': {
        const entry = JSON.parse(event.data) as WireEntry
        expect(entry.seq, `entry after ${this.seq}`).toBe(this.seq + 1)
        expect(event.id).toBe(String(entry.seq))
        this.state = apply(this.state ?? {}, entry.m)
        this.seq = entry.seq
        this.seqs.push(entry.seq)
        break
      }
      case 'bound': {
        const bound = JSON.parse(event.data) as { seq: number; ts: number }
        // A resume after an entry with a bound sends that bound again (readers hold it as a no-op):
        // after a reader cut just past the bound, it comes twice.
        const again = this.#previous?.event === 'bound' && this.bounds.at(-1) === bound.seq
        expect(again || this.#previous?.event === 'entry', 'a bound follows its entry').toBe(true)
        expect(bound.seq).toBe(this.seq)
        if (!again) this.bounds.push(bound.seq)
        break
      }
      case 'heartbeat':
        expect(typeof (JSON.parse(event.data) as { ts: unknown }).ts).toBe('number')
        return
      case 'error':
        throw new Error(`unexpected error event: ${event.data}`)
      default:
        throw new Error(`unexpected event ${event.event}`)
    }
    this.#previous = event
  }

  /** Applies events from `reader` until the model has reached `seq`. */
  async follow(reader: SseReader, seq: number, timeoutMs?: number): Promise<void> {
    while (this.seq < seq) this.apply(await reader.next(timeoutMs))
  }
}
