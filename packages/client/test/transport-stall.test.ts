/**
 * The transport's stall timer, on a fake `fetch` and fake timers: a request silent for `stallMs`
 * (no answer, or a pause in its body) fails as `NETWORK`; a body that keeps coming, however long
 * in all, does not; the caller's own abort stays the caller's; live tails opt out.
 */
import { ErrorCode } from '@statestream/common'
import { afterEach, beforeEach, expect, test, vi } from 'vitest'
import { Transport } from '../src/io/transport.ts'
import type { BodyReader, FetchLike, FetchResponse } from '../src/io/transport.ts'

beforeEach(() => {
  vi.useFakeTimers()
})

afterEach(() => {
  vi.useRealTimers()
})

/** A promise that settles when `signal` aborts, rejecting with its reason (as `fetch` does). */
function aborted(signal: AbortSignal | null | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (signal?.aborted) reject(signal.reason)
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}

/**
 * A fake `fetch` whose answer comes when the test says (`answer()`), and whose body hands out a
 * chunk each time the test calls `chunk()` and ends on `end()`; an abort rejects whatever waits.
 */
function fakeFetch(): { fetch: FetchLike; answer: () => void; chunk: (text: string) => void; end: () => void; calls: number } {
  const encoder = new TextEncoder()
  const pending: Array<(next: { done: true } | { done: false; value: Uint8Array }) => void> = []
  const queued: Array<{ done: true } | { done: false; value: Uint8Array }> = []
  let answer: () => void = () => {}
  const push = (next: { done: true } | { done: false; value: Uint8Array }): void => {
    const waiting = pending.shift()
    if (waiting !== undefined) waiting(next)
    else queued.push(next)
  }
  const state = {
    calls: 0,
    answer: () => answer(),
    chunk: (text: string) => push({ done: false, value: encoder.encode(text) }),
    end: () => push({ done: true }),
    fetch: (async (_input: string, init: RequestInit) => {
      state.calls += 1
      const signal = init.signal
      await Promise.race([new Promise<void>((resolve) => (answer = resolve)), aborted(signal)])
      const reader: BodyReader = {
        read: () => {
          const next = queued.shift()
          if (next !== undefined) return Promise.resolve(next)
          return Promise.race([new Promise<{ done: true } | { done: false; value: Uint8Array }>((resolve) => pending.push(resolve)), aborted(signal)])
        },
        cancel: async () => {},
        releaseLock: () => {},
      }
      const response: FetchResponse = {
        ok: true,
        status: 200,
        headers: { get: () => null, forEach: () => {} },
        body: { getReader: () => reader },
        text: async () => {
          let text = ''
          for (;;) {
            const next = await reader.read()
            if (next.done) return text
            text += new TextDecoder().decode(next.value)
          }
        },
        arrayBuffer: async () => new ArrayBuffer(0),
      }
      return response
    }) as FetchLike,
  }
  return state
}

async function readAll(response: FetchResponse): Promise<string> {
  const reader = (response.body as { getReader(): BodyReader }).getReader()
  let text = ''
  for (;;) {
    const next = await reader.read()
    if (next.done) return text
    text += new TextDecoder().decode(next.value)
  }
}

test('an answer just in time, then a body gone silent for the stall time: NETWORK', async () => {
  const net = fakeFetch()
  const transport = new Transport({ baseUrl: 'http://127.0.0.1:1', fetch: net.fetch, stallMs: 1000 })
  const sent = transport.send('/v1/window/a?seq=0')
  await vi.advanceTimersByTimeAsync(999)
  net.answer()
  const body = readAll(await sent)
  const cut = expect(body).rejects.toMatchObject({ code: ErrorCode.NETWORK, message: expect.stringContaining('no answer for 1000 ms') })
  net.chunk('{"stream":')
  await vi.advanceTimersByTimeAsync(999)
  net.chunk('"a",')
  await vi.advanceTimersByTimeAsync(1000)
  await cut
  expect(vi.getTimerCount()).toBe(0)
})

test('a request that never answers fails as NETWORK once the stall time has passed', async () => {
  const net = fakeFetch()
  const transport = new Transport({ baseUrl: 'http://127.0.0.1:1', fetch: net.fetch, stallMs: 1000 })
  const sent = transport.send('/v1/state/a')
  const outcome = expect(sent).rejects.toMatchObject({ code: ErrorCode.NETWORK, message: expect.stringContaining('no answer for 1000 ms') })
  await vi.advanceTimersByTimeAsync(1000)
  await outcome
})

test('a body that keeps coming is read to its end, however long it takes in all', async () => {
  const net = fakeFetch()
  const transport = new Transport({ baseUrl: 'http://127.0.0.1:1', fetch: net.fetch, stallMs: 1000 })
  const sent = transport.send('/v1/window/a?seq=0')
  net.answer()
  const response = await sent
  const body = readAll(response)
  // Ten pauses of 900 ms: 9 s in all, never 1 s without a byte.
  for (let i = 0; i < 10; i++) {
    await vi.advanceTimersByTimeAsync(900)
    net.chunk(`${i}`)
  }
  await vi.advanceTimersByTimeAsync(900)
  net.end()
  expect(await body).toBe('0123456789')
  // Read to its end: nothing is left to fire.
  expect(vi.getTimerCount()).toBe(0)
})

test('the same through text(): the silence counts from the head to the end of the body', async () => {
  const net = fakeFetch()
  const transport = new Transport({ baseUrl: 'http://127.0.0.1:1', fetch: net.fetch, stallMs: 1000 })
  const sent = transport.json('/v1/state/a')
  await vi.advanceTimersByTimeAsync(500)
  net.answer()
  net.chunk('{"ok":')
  net.chunk('true}')
  net.end()
  expect(await sent).toMatchObject({ status: 200, body: { ok: true } })
  expect(vi.getTimerCount()).toBe(0)
})

test("the caller's abort rejects with the caller's reason, not as a stall", async () => {
  const net = fakeFetch()
  const transport = new Transport({ baseUrl: 'http://127.0.0.1:1', fetch: net.fetch, stallMs: 1000 })
  const controller = new AbortController()
  const sent = transport.send('/v1/state/a', { signal: controller.signal })
  const reason = new Error('not wanted any more')
  const outcome = expect(sent).rejects.toBe(reason)
  await vi.advanceTimersByTimeAsync(300)
  controller.abort(reason)
  await outcome
  expect(vi.getTimerCount()).toBe(0)
})

test('with stallMs 0 (as live tails ask) a request may stay silent for ever', async () => {
  const net = fakeFetch()
  const transport = new Transport({ baseUrl: 'http://127.0.0.1:1', fetch: net.fetch, stallMs: 1000 })
  let settled = false
  const sent = transport.send('/v1/live/a', { stallMs: 0 }).finally(() => (settled = true))
  await vi.advanceTimersByTimeAsync(60_000)
  expect(settled).toBe(false)
  expect(vi.getTimerCount()).toBe(0)
  net.answer()
  expect((await sent).status).toBe(200)
})
