/**
 * The caller's controls and what stands between client and server: an `AbortSignal` on every call
 * that waits (reads, writes, create, close, delete), `history({ from })` running on into the live tail, `window({ at: 'now' })`, and the
 * "try again" answers of proxies and gateways (408, 429, 502, 503, 504) retried with `Retry-After`
 * as a floor.
 */
import { describe, expect } from 'vitest'
import { clientTest as test, merge } from './support/count-requests.ts'
import type { Gate } from './support/count-requests.ts'
import { first } from './support/observe.ts'

/** A gate that answers the first `times` requests under `prefix` with `status` (and `Retry-After`). */
function flaky(prefix: string, status: number, times: number, retryAfter?: string): Gate {
  let left = times
  return async (request, reply) => {
    if (!request.url.startsWith(prefix) || left === 0) return undefined
    left -= 1
    if (retryAfter !== undefined) reply.header('retry-after', retryAfter)
    return reply.code(status).header('content-type', 'text/html').send('<html>try again</html>')
  }
}

/** A gate that holds requests under `prefix` until `release()`. */
function holding(prefix: string): { gate: Gate; release: () => void; held: () => number } {
  let open: () => void = () => undefined
  const opened = new Promise<void>((resolve) => (open = resolve))
  let held = 0
  return {
    gate: async (request) => {
      if (!request.url.startsWith(prefix)) return undefined
      held += 1
      await opened
      return undefined
    },
    release: () => open(),
    held: () => held,
  }
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe('answers from anything in between', () => {
  test.for([408, 429, 502, 503, 504])('%i is retried, not fatal', async (status, { serve, connect }) => {
    const server = await serve({}, flaky('/v1/window/', status, 2))
    const { client } = connect(server.url, { backoff: { initialMs: 5, maxMs: 20 } })
    const stream = client.stream('between/window')
    await stream.create({ messages: [{ set: { ok: true } }] })
    expect(await stream.stateAt(Number.MAX_SAFE_INTEGER - 1)).toEqual({ ok: true })
    expect(server.served.count('/v1/window/')).toBe(3)
  })

  test.for([429, 503])('live$ rides out %i on connect', async (status, { serve, connect }) => {
    const server = await serve({}, flaky('/v1/live/', status, 2))
    const { client } = connect(server.url, { backoff: { initialMs: 5, maxMs: 20 } })
    const stream = client.stream('between/live')
    await stream.create({ messages: [{ set: { ok: true } }] })
    expect(await first(stream.live$)).toMatchObject({ seq: 1, state: { ok: true } })
    expect(server.served.count('/v1/live/')).toBe(3)
  })

  test('Retry-After is a floor under the backoff', async ({ serve, connect }) => {
    const server = await serve({}, flaky('/v1/stream/', 429, 1, '1'))
    const { client } = connect(server.url, { backoff: { initialMs: 1, maxMs: 2 } })
    const started = performance.now()
    await client.stream('between/slow').create()
    // The backoff alone would wait at most 2 ms; the server asked for a second.
    expect(performance.now() - started).toBeGreaterThanOrEqual(990)
    expect(server.served.count('/v1/stream/')).toBe(2)
  })
})

describe('AbortSignal', () => {
  test('window and stateAt stop waiting when aborted; the shared fetch goes on for the others', async ({ serve, connect }) => {
    const hold = holding('/v1/window/')
    const server = await serve({}, hold.gate)
    const { client } = connect(server.url)
    const stream = client.stream('abort/window')
    await stream.create({ messages: [{ set: { v: 1 } }] })
    const controller = new AbortController()
    const aborted = stream.window({ seq: 1 }, { signal: controller.signal })
    const other = stream.stateAt(Number.MAX_SAFE_INTEGER - 1)
    await until(() => hold.held() === 1)
    controller.abort(new Error('enough'))
    await expect(aborted).rejects.toThrow('enough')
    hold.release()
    expect(await other).toEqual({ v: 1 })
    // Already aborted: rejected without a request.
    const before = server.served.requests.length
    await expect(stream.stateAt(0, { signal: AbortSignal.abort(new Error('no')) })).rejects.toThrow('no')
    expect(server.served.requests.length).toBe(before)
  })

  test('an append aborted while it waits its turn is never sent; the next one is stored', async ({ serve, connect }) => {
    const hold = holding('/v1/stream/abort/append')
    const server = await serve({}, async (request, reply) => (request.method === 'POST' ? hold.gate(request, reply) : undefined))
    const { client } = connect(server.url)
    const stream = client.stream('abort/append')
    await stream.create()
    const controller = new AbortController()
    const firstAppend = stream.append(merge({ a: 1 }))
    const queued = stream.append(merge({ b: 2 }), { signal: controller.signal })
    await until(() => hold.held() === 1)
    controller.abort(new Error('changed my mind'))
    hold.release()
    await expect(queued).rejects.toThrow('changed my mind')
    expect(await firstAppend).toMatchObject({ seq: 1 })
    expect(await stream.append(merge({ c: 3 }))).toMatchObject({ seq: 2, duplicate: false })
    expect(await stream.stateAt(Number.MAX_SAFE_INTEGER - 1)).toEqual({ a: 1, c: 3 })
  })

  test.for([
    ['create', 'PUT'],
    ['close', 'POST'],
    ['delete', 'DELETE'],
  ] as const)('%s stops waiting when aborted, and sends nothing when already aborted', async ([call, method], { serve, connect }) => {
    const name = `abort/${call}`
    const hold = holding(`/v1/stream/${name}`)
    const server = await serve({}, async (request, reply) => (request.method === method ? hold.gate(request, reply) : undefined))
    const { client } = connect(server.url)
    const stream = client.stream(name)
    const run = (signal: AbortSignal): Promise<unknown> =>
      call === 'create' ? stream.create({ signal }) : call === 'close' ? stream.close({ signal }) : stream.delete({ signal })
    if (call !== 'create') await stream.create()
    const controller = new AbortController()
    const waiting = run(controller.signal)
    await until(() => hold.held() === 1)
    controller.abort(new Error(`no ${call} after all`))
    hold.release()
    await expect(waiting).rejects.toThrow(`no ${call} after all`)
    const before = server.served.requests.length
    await expect(run(AbortSignal.abort(new Error('never')))).rejects.toThrow('never')
    expect(server.served.requests.length).toBe(before)
  })

  test('history ends with the reason when aborted', async ({ serve, connect }) => {
    const server = await serve()
    const { client } = connect(server.url)
    const stream = client.stream('abort/history')
    await stream.create({ messages: [{ set: { v: 1 } }] })
    const controller = new AbortController()
    const steps: number[] = []
    const done = new Promise<unknown>((resolve) =>
      stream.history({ from: 0, signal: controller.signal }).subscribe({ next: (s) => steps.push(s.seq), error: resolve }),
    )
    await until(() => steps.length > 0)
    controller.abort(new Error('stop'))
    expect(await done).toMatchObject({ message: 'stop' })
    expect(steps).toEqual([0, 1])
  })
})

describe('arguments', () => {
  test('a time or seq out of its domain is refused with INVALID_PARAMETER, whatever the client holds', async ({ serve, connect }) => {
    const server = await serve()
    const { client } = connect(server.url)
    const stream = client.stream('args/times')
    await stream.create({ messages: [merge({ a: 1 })] })
    const bad = [Number.NaN, -5, 1.5, Number.POSITIVE_INFINITY, '12' as unknown as number]
    const refusals = async (): Promise<string[]> => {
      const outcomes = await Promise.all([
        ...bad.map((ts) => stream.stateAt(ts).then(() => 'answered', (err: unknown) => (err as { code: string }).code)),
        ...bad.map((at) => stream.window({ at }).then(() => 'answered', (err: unknown) => (err as { code: string }).code)),
        ...bad.map((seq) => stream.window({ seq }).then(() => 'answered', (err: unknown) => (err as { code: string }).code)),
        ...bad.map((ts) => client.statesAt(['args/times'], ts).then(() => 'answered', (err: unknown) => (err as { code: string }).code)),
        ...bad.map((from) => first(stream.history({ from })).then(() => 'answered', (err: unknown) => (err as { code: string }).code)),
      ])
      return [...new Set(outcomes)]
    }
    const before = server.served.requests.length
    expect(await refusals()).toEqual(['INVALID_PARAMETER'])
    // Now with the open window held, which covers every time from the creation on.
    await stream.window({ at: 'now' })
    expect(await refusals()).toEqual(['INVALID_PARAMETER'])
    // Not one of them was sent.
    expect(server.served.requests.length).toBe(before + 1)
  })
})

describe('client.close()', () => {
  test('with a history and a write in flight: the history completes at once, the write gets its answer, nothing more is sent', async ({ serve, connect }) => {
    const windows = holding('/v1/window')
    const writes = holding('/v1/stream/closing/one')
    const server = await serve({}, async (request, reply) =>
      request.method === 'POST' ? writes.gate(request, reply) : windows.gate(request, reply),
    )
    await connect(server.url).client.stream('closing/one').create({ messages: [merge({ a: 1 })] })
    const { client } = connect(server.url)
    const stream = client.stream('closing/one')
    // As the README's smallest example subscribes: a `next` alone, no error handler (an error
    // would be thrown out of rxjs, and fail the run). Without `to`, it would run on into live.
    const seen: number[] = []
    let completed = false
    stream.history({ from: 0 }).subscribe({ next: (state) => seen.push(state.seq), complete: () => (completed = true) })
    const write = stream.append(merge({ b: 2 }))
    await until(() => windows.held() === 1 && writes.held() === 1)
    const before = server.served.requests.length

    const closing = client.close()
    expect(completed).toBe(true)
    // A call made once the client is closed is refused, and never sent.
    await expect(stream.append(merge({ c: 3 }))).rejects.toMatchObject({ code: 'CLOSED' })
    windows.release()
    writes.release()
    await closing
    // The write on its way when the client closed was answered, and the caller told.
    expect(await write).toMatchObject({ seq: 2, duplicate: false })
    // No retry, no further window, no live connection: the closed client sent nothing more.
    expect(server.served.requests.length).toBe(before)
    expect(seen).toEqual([])
  })
})

describe('history and the head', () => {
  test('history({ from }) without `to` runs on into the live tail, each entry once', async ({ serve, connect }) => {
    const server = await serve({ heartbeatMs: 100 })
    const writer = connect(server.url).client.stream('head/history')
    await writer.create({ snapshot: { entries: 4 } })
    for (let n = 1; n <= 10; n++) await writer.append(merge({ n }))
    const { client } = connect(server.url)
    const stream = client.stream<{ n?: number }>('head/history')
    const steps: Array<{ seq: number; n: number | undefined; entry: boolean }> = []
    const subscription = stream.history({ from: 0 }).subscribe((s) => steps.push({ seq: s.seq, n: s.state.n, entry: s.entry !== undefined }))
    await until(() => steps.length === 11)
    for (let n = 11; n <= 15; n++) await writer.append(merge({ n }))
    await until(() => steps.length === 16)
    subscription.unsubscribe()
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i))
    expect(steps.slice(1).every((s) => s.entry && s.n === s.seq)).toBe(true)
    expect(server.served.refetched('head/history')).toEqual([])
  })

  test("window({ at: 'now' }) is the open window up to the head, fetched again only after its last entry", async ({ serve, connect }) => {
    const server = await serve()
    const writer = connect(server.url).client.stream('head/now')
    await writer.create({ snapshot: { entries: 5 } })
    for (let n = 1; n <= 7; n++) await writer.append(merge({ n }))
    const { client } = connect(server.url)
    const stream = client.stream('head/now')
    const now = await stream.window({ at: 'now' })
    expect(now).toMatchObject({ start: { seq: 5 }, end: null })
    expect(now.entries.map((e) => e.seq)).toEqual([6, 7])
    await writer.append(merge({ n: 8 }))
    const later = await stream.window({ at: 'now' })
    expect(later.entries.map((e) => e.seq)).toEqual([6, 7, 8])
    expect(server.served.refetched('head/now')).toEqual([])
    expect(server.served.requests.filter((line) => line.includes('/v1/window/'))).toEqual([
      'GET /v1/window/head/now?at=now',
      'GET /v1/window/head/now?seq=5&after=7',
    ])
  })
})
