/**
 * Readers that connect at once: the open window is read once for all of them — while appends go
 * on, a window read a few entries ago is handed out with those entries after it, until a snapshot
 * closes it — and each reader gets a turn of the event loop of its own, so what arrives meanwhile
 * is not held behind the whole burst.
 */
import { expect, test } from 'vitest'
import { windowEvent, windowEventBytes } from '../src/live/live-events.ts'
import { LiveHub } from '../src/live/live-hub.ts'
import { MAX_BEHIND, OpenWindows } from '../src/live/open-windows.ts'
import { StreamStore } from '../src/stream-store.ts'
import type { StreamInfo } from '../src/stream-types.ts'

const info = (headSeq: number, extra: Partial<StreamInfo> = {}): StreamInfo => ({ id: 1, name: 's', headSeq, closed: false, ...extra }) as StreamInfo

test('a window is read once, handed out while the head moves on within it, and read again once it closed or the stream changed', () => {
  const windows = new OpenWindows()
  let reads = 0
  const read = () => `{"window":${++reads}}`
  const same = () => true
  const first = windows.event(info(5), read, same)
  expect(first.seq).toBe(5)
  expect(first.event.toString()).toBe('event: window\nid: 5\ndata: {"window":1}\n\n')
  expect(windows.event(info(5), read, same).event).toBe(first.event)
  // Appends since: the same window, up to where it was read (the caller sends the entries after).
  expect(windows.event(info(5 + MAX_BEHIND), read, same)).toEqual({ event: first.event, seq: 5, through: 5 })
  expect(reads).toBe(1)
  // Too far behind, a snapshot since, closed, re-created: read afresh.
  expect(windows.event(info(6 + MAX_BEHIND), read, same).seq).toBe(6 + MAX_BEHIND)
  expect(windows.event(info(7 + MAX_BEHIND), read, () => false).seq).toBe(7 + MAX_BEHIND)
  windows.event(info(8 + MAX_BEHIND, { closed: true }), read, same)
  windows.event(info(8 + MAX_BEHIND, { id: 2 }), read, same)
  expect(reads).toBe(5)
  // The multiplexed route's text: only at the very head it was read at.
  expect(windows.body(info(8 + MAX_BEHIND, { id: 2 }), read)).toBe('{"window":5}')
  expect(windows.body(info(9 + MAX_BEHIND, { id: 2 }), read)).toBe('{"window":6}')
  // Forgotten (a snapshot, closure or deletion): read again.
  windows.forget('s')
  windows.body(info(9 + MAX_BEHIND, { id: 2 }), read)
  expect(reads).toBe(7)
  windows.clear()
})

test('commits since a window was read are kept with it as their live events: readers at the head get both without a read', () => {
  const windows = new OpenWindows()
  let reads = 0
  const read = () => `{"window":${++reads}}`
  const unasked = () => {
    throw new Error('a window told every commit since is not checked against the log')
  }
  const rendered: number[] = []
  const entries = (first: number, last: number) => (after: number) => {
    rendered.push(after)
    return Buffer.from(Array.from({ length: last - Math.max(first - 1, after) }, (_, i) => `e${Math.max(first - 1, after) + 1 + i};`).join(''))
  }
  const first = windows.event(info(5), read, unasked)
  windows.extend(info(6), 6, 6, entries(6, 6))
  windows.extend(info(8), 7, 8, entries(7, 8))
  // Rendered once each, after where the window's entries had run to.
  expect(rendered).toEqual([5, 6])
  const at8 = windows.event(info(8), read, unasked)
  expect(at8).toMatchObject({ event: first.event, seq: 5, through: 8 })
  expect(at8.since?.toString()).toBe('e6;e7;e8;')
  // Every reader at that head gets the same bytes.
  expect(windows.event(info(8), read, unasked).since).toBe(at8.since)
  expect(reads).toBe(1)
  // A head the window was not told of: the window alone, the caller reads the entries after it.
  expect(windows.event(info(9), read, () => true)).toEqual({ event: first.event, seq: 5, through: 5 })
  expect(reads).toBe(1)
  // A commit missed (it would leave a gap), or one too far past the window: forgotten, read again.
  windows.extend(info(12), 11, 12, entries(11, 12))
  expect(windows.event(info(12), read, unasked).seq).toBe(12)
  windows.extend(info(13 + MAX_BEHIND), 13, 13 + MAX_BEHIND, entries(13, 13 + MAX_BEHIND))
  expect(windows.has('s')).toBe(false)
  expect(reads).toBe(2)
  // Of another stream of the name: forgotten too.
  windows.event(info(20), read, unasked)
  windows.extend(info(21, { id: 2 }), 21, 21, entries(21, 21))
  expect(windows.has('s')).toBe(false)
  windows.clear()
})

test('a window event written straight into bytes is the text of windowEvent, line breaks and any UTF-8 included', () => {
  for (const body of ['{"a":1}', '{"s":"é ✓ 😀"}', '{"a":\n1}', '{"a":\r\n1}', '']) {
    for (const id of [undefined, 0, 12345]) expect(windowEventBytes(body, id).toString()).toBe(windowEvent(body, id))
  }
})

test('a window too large to keep is read for each reader', () => {
  const windows = new OpenWindows()
  let reads = 0
  const huge = 'x'.repeat(20 * 1024 * 1024)
  const read = () => {
    reads += 1
    return huge
  }
  windows.body(info(1), read)
  windows.body(info(1), read)
  expect(reads).toBe(2)
  windows.clear()
})

test('turns: one waiter a turn of the event loop, in order, with what was queued meanwhile in between', async () => {
  const store = new StreamStore()
  const hub = new LiveHub(store)
  const order: string[] = []
  const turns = [1, 2, 3].map((n) =>
    hub.turn().then(() => {
      order.push(`reader ${n}`)
      // Something that arrives during this reader's turn (a commit's flush is an immediate too).
      setImmediate(() => order.push(`after ${n}`))
    }),
  )
  await Promise.all(turns)
  await new Promise((resolve) => setImmediate(resolve))
  expect(order.slice(0, 5)).toEqual(['reader 1', 'after 1', 'reader 2', 'after 2', 'reader 3'])
  await hub.close()
  await store.close()
})
