/**
 * Readers that connect at once: the open window is read once for all that connect at the same
 * head (and again once the stream moves on), and each reader gets a turn of the event loop of its
 * own, so what arrives meanwhile is not held behind the whole burst.
 */
import { expect, test } from 'vitest'
import { OpenWindows } from '../src/live/open-windows.ts'
import type { StreamInfo } from '../src/stream-types.ts'
import { StreamStore } from '../src/stream-store.ts'
import { LiveHub } from '../src/live/live-hub.ts'

const info = (headSeq: number, extra: Partial<StreamInfo> = {}): StreamInfo => ({ id: 1, name: 's', headSeq, closed: false, ...extra }) as StreamInfo

test('a window is read once per head, and again once the stream moved on, closed or was re-created', () => {
  const windows = new OpenWindows()
  let reads = 0
  const read = () => `{"window":${++reads}}`
  const first = windows.event(info(5), read)
  expect(windows.event(info(5), read)).toBe(first)
  expect(windows.body(info(5), read)).toBe('{"window":1}')
  expect(first.toString()).toBe('event: window\nid: 5\ndata: {"window":1}\n\n')
  expect(reads).toBe(1)
  windows.event(info(6), read)
  windows.event(info(6, { closed: true }), read)
  windows.event(info(6, { closed: true, id: 2 }), read)
  expect(reads).toBe(4)
  // A commit forgets it, even at what looks like the same head.
  windows.forget('s')
  windows.event(info(6, { closed: true, id: 2 }), read)
  expect(reads).toBe(5)
  windows.clear()
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
