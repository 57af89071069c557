import { replay } from '@statestream/common'
import type { Entry, WindowData } from '@statestream/common'
import { afterEach, expect, test, vi } from 'vitest'
import { endStateOf, entryCount, freeze, isFrozen, withStart } from '../src/frozen-window.ts'
import { lastSeqOf, lastTsOf } from '../src/window-state.ts'
import type { WindowModel } from '../src/window-state.ts'
import { WindowStore } from '../src/index.ts'
import { FakeHistory } from './support/fake-history.ts'

type Committed = Extract<WindowModel, { state: 'committed' }>

/** A committed window of `count` entries after a start state of `stateBytes` characters, and its body text. */
function committed(count: number, stateBytes = 20): { model: Committed; text: string } {
  const start = { seq: 10, ts: 1_000, state: { big: 'x'.repeat(stateBytes), n: 0 } }
  const entries: Entry[] = Array.from({ length: count }, (_, i) => ({ seq: 11 + i, ts: 1_001 + i, m: { merge: { n: i + 1, [`k${i % 4}`]: i } } }))
  const end = { seq: 10 + count, ts: 1_000 + count }
  const data: WindowData = { stream: 's', start, entries, end, nextOffset: '0' }
  return { model: { state: 'committed', start, entries, end }, text: JSON.stringify(data) }
}

afterEach(() => {
  vi.restoreAllMocks()
})

test('a frozen window reads the same entries, bounds and counts, parsing its text only when read', () => {
  const { model, text } = committed(50)
  const expected = structuredClone(model.entries)
  const frozen = freeze(model, text, { shareParsed: false })
  expect(isFrozen(frozen)).toBe(true)
  const parse = vi.spyOn(JSON, 'parse')
  // Bounds and counts come without parsing.
  expect([lastSeqOf(frozen), lastTsOf(frozen), entryCount(frozen)]).toEqual([60, 1_050, 50])
  expect(parse).not.toHaveBeenCalled()
  // Entries are parsed from the text once, and shared while held.
  const entries = frozen.entries
  expect(entries).toEqual(expected)
  expect(frozen.entries).toBe(entries)
  expect(parse).toHaveBeenCalledTimes(1)
})

test('the fetched array is shared: reading a window just frozen parses nothing', () => {
  const { model, text } = committed(5)
  const parse = vi.spyOn(JSON, 'parse')
  const frozen = freeze(model, text)
  expect(frozen.entries).toBe(model.entries)
  expect(parse).not.toHaveBeenCalled()
})

test('the end state is kept, equal to a replay of the entries', () => {
  const { model, text } = committed(30)
  const frozen = freeze(model, text, { shareParsed: false })
  expect(endStateOf(frozen)).toEqual(replay(model.start, model.entries).state)
  expect(endStateOf(model)).toBeUndefined()
})

test('a new start keeps a frozen window frozen; a parsed one is copied', () => {
  const { model, text } = committed(8)
  const frozen = freeze(model, text, { shareParsed: false })
  const start = { seq: 10, ts: 1_000, state: structuredClone(model.start.state) }
  const moved = withStart(frozen, start)
  expect(isFrozen(moved)).toBe(true)
  expect(moved.start).toBe(start)
  expect(moved.entries).toEqual(model.entries)
  const plain = withStart(model, start)
  expect(isFrozen(plain)).toBe(false)
  expect(plain).toEqual({ ...model, start })
})

test('a window whose text is mostly its start state, or that has no entries, stays parsed', () => {
  const big = committed(3, 10_000)
  expect(freeze(big.model, big.text)).toBe(big.model)
  const empty = committed(0)
  expect(freeze(empty.model, empty.text)).toBe(empty.model)
})

test('a text that no longer matches its entries is an error, not a wrong answer', () => {
  const { model } = committed(10)
  const other = committed(9).text
  const frozen = freeze(model, other, { shareParsed: false })
  expect(() => frozen.entries).toThrow(/no longer parses/)
})

test('a store keeps whole fetched windows as text and answers from them', async () => {
  const server = new FakeHistory(0)
  for (let i = 1; i <= 40; i++) server.append({ merge: { i, pad: 'y'.repeat(100) } }, 10, i % 10 === 0)
  const store = new WindowStore({ fetch: (q) => server.window(q) })
  for (const ts of [5, 105, 205, 305]) expect((await store.stateAt(ts))?.state).toEqual(server.stateAt(ts))
  const models = store.models()
  expect(models).toHaveLength(4)
  expect(models.every((m) => isFrozen(m))).toBe(true)
  // Each window after the first starts from the one before's end state (nothing re-parsed to share it).
  for (let i = 1; i < models.length; i++) {
    const start = (models[i] as Committed).start.state
    expect(start).toBe(endStateOf(models[i - 1] as Committed))
  }
  expect(store.windows$.value.map((v) => v.entries)).toEqual([10, 10, 10, 10])
  expect(server.fetches).toBe(4)
})
