/**
 * `/v1/live/<name>`: one connection carries the open window and then every entry of a state
 * stream; it resumes by Last-Event-ID or `?after=`, reports window bounds, heartbeats, and ends
 * cleanly on deletion and shutdown. Real listener, real HTTP.
 */
import type { Json } from '@statestream/common'
import { describe, expect } from 'vitest'
import { liveTest as test, append, createPlainStream, createStateStream, deleteStream, getJson, sleep } from './support/live-server.ts'
import { SseReader } from './support/sse.ts'
import { StateModel } from './support/state-model.ts'

type StateAnswer = { seq: number; ts: number; state: Json }

describe('GET /v1/live/<name>', () => {
  test('readers connecting during concurrent appends each see every seq once, in order, ending at GET /v1/state', async ({ serve }) => {
    const { url } = await serve({ heartbeatMs: 250 })
    const name = await createStateStream(url, 'race/one', 7)
    await append(url, name, JSON.stringify({ set: { list: [] } }))

    const writers = 4
    const perWriter = 60
    const written = (async () => {
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < perWriter; i++) {
            // Order-sensitive patches (list appends) and merges, so a reordering would show in the state.
            const mutation =
              i % 3 === 0
                ? { patch: [{ op: 'add', path: '/list/-', value: `${w}.${i}` }] }
                : { merge: { [`w${w}`]: i, last: `${w}.${i}` } }
            await append(url, name, JSON.stringify(mutation))
          }
        }),
      )
    })()

    // Readers join while the writers run: some see a small window, others a large one.
    const readers: SseReader[] = []
    for (let r = 0; r < 8; r++) {
      readers.push(await SseReader.open(`${url}/v1/live/${name}`))
      await sleep(15)
    }
    await written
    const head = 1 + writers * perWriter
    const expected = (await getJson<StateAnswer>(url, `/v1/state/${name}`)).body
    expect(expected.seq).toBe(head)

    for (const reader of readers) {
      expect(reader.status).toBe(200)
      expect(reader.headers['content-type']).toMatch(/^text\/event-stream/)
      const model = new StateModel()
      await model.follow(reader, head)
      expect(model.windows).toBe(1)
      expect(model.state).toEqual(expected.state)
    }
    // Nothing after the head: no duplicate arrives late.
    await sleep(300)
    for (const reader of readers) {
      expect(reader.pending.filter((event) => event.event !== 'heartbeat')).toEqual([])
      reader.close()
    }
  })

  test('a connection cut mid-stream resumes with Last-Event-ID: no gap, no duplicate, no window', async ({ serve }) => {
    const { url } = await serve()
    const name = await createStateStream(url, 'resume/me', 5)
    for (let i = 1; i <= 10; i++) await append(url, name, JSON.stringify({ merge: { i } }))

    const first = await SseReader.open(`${url}/v1/live/${name}`)
    const model = new StateModel()
    await model.follow(first, 10)
    const writing = (async () => {
      for (let i = 11; i <= 40; i++) await append(url, name, JSON.stringify({ merge: { i, [`k${i % 4}`]: i } }))
    })()
    await model.follow(first, 18)
    first.close()
    await writing
    // Events that came in the same chunks as entry 18 were received too: an EventSource would have
    // seen them, and its Last-Event-ID is the last of them.
    for (const event of first.pending) model.apply(event)

    // Resume from the last id the reader saw, exactly as an EventSource would.
    const lastId = first.lastId as string
    expect(Number(lastId)).toBe(model.seq)
    expect(model.seq).toBeLessThan(40)
    const resumedAfter = model.seq
    const seen = model.seqs.length
    const resumed = await SseReader.open(`${url}/v1/live/${name}`, { headers: { 'last-event-id': lastId } })
    expect(resumed.status).toBe(200)
    // The model refuses a window, a gap or a repeat; a resume just past an entry that closed a window
    // gets that bound first (see the next test).
    await model.follow(resumed, 40)
    expect(model.seqs[seen]).toBe(resumedAfter + 1)
    expect(model.windows).toBe(1)
    expect(model.state).toEqual((await getJson<StateAnswer>(url, `/v1/state/${name}`)).body.state)

    // Then live again on the same connection.
    await append(url, name, JSON.stringify({ merge: { after: true } }))
    await model.follow(resumed, 41)
    // Bounds past the resume point come in place: the windows closed at 20, 25, ... 40.
    expect(model.bounds.filter((seq) => seq > 18)).toEqual([20, 25, 30, 35, 40])
    resumed.close()
  })

  test('a resume exactly at a window bound gets that bound again first, so a cut between entry and bound loses nothing', async ({ serve }) => {
    const { url } = await serve()
    const name = await createStateStream(url, 'resume/bound', 5)
    for (let i = 1; i <= 7; i++) await append(url, name, JSON.stringify({ merge: { i } }))

    // Entry 5 closed the first window; a reader whose connection died right after entry 5 resumes from 5.
    const resumed = await SseReader.open(`${url}/v1/live/${name}`, { headers: { 'last-event-id': '5' } })
    const first = await resumed.waitFor((event) => event.event !== 'heartbeat')
    expect(first.event).toBe('bound')
    expect(JSON.parse(first.data).seq).toBe(5)
    const second = await resumed.waitFor((event) => event.event !== 'heartbeat')
    expect(second.event).toBe('entry')
    expect(JSON.parse(second.data).seq).toBe(6)
    resumed.close()

    // A resume point that is no bound sends entries only.
    const plain = await SseReader.open(`${url}/v1/live/${name}?after=4`)
    const next = await plain.waitFor((event) => event.event !== 'heartbeat')
    expect(next.event).toBe('entry')
    expect(JSON.parse(next.data).seq).toBe(5)
    plain.close()
  })

  test('?after=<seq> resumes too, and an idle resume still gets its 200 at once', async ({ serve }) => {
    const { url } = await serve()
    const name = await createStateStream(url, 'after/q')
    for (let i = 1; i <= 6; i++) await append(url, name, JSON.stringify({ merge: { i } }))
    const state4 = (await getJson<StateAnswer>(url, `/v1/state/${name}?seq=4`)).body

    const reader = await SseReader.open(`${url}/v1/live/${name}?after=4`)
    const model = new StateModel({ state: state4.state, seq: 4 })
    await model.follow(reader, 6)
    expect(model.seqs).toEqual([5, 6])
    reader.close()

    // At the head there is nothing to send, but the response has started (status and headers).
    const idle = await SseReader.open(`${url}/v1/live/${name}`, { headers: { 'last-event-id': '6' } })
    expect(idle.status).toBe(200)
    await append(url, name, JSON.stringify({ merge: { i: 7 } }))
    const entry = await idle.waitFor((event) => event.event === 'entry')
    expect(entry.id).toBe('7')
    idle.close()
  })

  test('a window closing while a reader tails: bound right after its entry, entries go on, state stays right', async ({ serve }) => {
    const { url } = await serve()
    const name = await createStateStream(url, 'windows/close', 4)
    const reader = await SseReader.open(`${url}/v1/live/${name}`)
    const model = new StateModel()
    model.apply(await reader.next())
    expect(model.seq).toBe(0)

    for (let i = 1; i <= 10; i++) await append(url, name, JSON.stringify({ patch: [{ op: 'add', path: `/k${i}`, value: i }] }))
    await model.follow(reader, 10)
    // The entry closing a window comes first, so its bound follows only once the next event is in.
    await append(url, name, JSON.stringify({ merge: { k11: 11 } }))
    await model.follow(reader, 11)
    expect(model.bounds).toEqual([4, 8])
    expect(model.state).toEqual((await getJson<StateAnswer>(url, `/v1/state/${name}`)).body.state)

    // The bounds are the server's windows: the window at seq 4 is closed at 8.
    const window = (await getJson<{ start: { seq: number }; end: { seq: number } | null }>(url, `/v1/window/${name}?seq=5`)).body
    expect(window.start.seq).toBe(4)
    expect(window.end?.seq).toBe(8)
    reader.close()
  })

  test('a reader joining right after a window closed gets the new, empty open window', async ({ serve }) => {
    const { url } = await serve()
    const name = await createStateStream(url, 'windows/fresh', 3)
    for (let i = 1; i <= 3; i++) await append(url, name, JSON.stringify({ merge: { i } }))
    const reader = await SseReader.open(`${url}/v1/live/${name}`)
    const event = await reader.next()
    const window = JSON.parse(event.data) as { start: { seq: number; state: Json }; entries: unknown[] }
    expect(event.event).toBe('window')
    expect(event.id).toBe('3')
    expect(window.start.seq).toBe(3)
    expect(window.start.state).toEqual({ i: 3 })
    expect(window.entries).toEqual([])
    reader.close()
  })

  // 12 MB through SSE: on a busy machine that takes far longer than the other tests' events.
  test('a window larger than the reader budget is not mistaken for a slow reader', { timeout: 240_000 }, async ({ serve }) => {
    const { url } = await serve({ maxBufferedBytes: 16 * 1024 })
    const name = await createStateStream(url, 'big/window')
    // A 12 MB state: more than socket buffers absorb, so the window is still queued server-side.
    for (const key of ['a', 'b', 'c', 'd']) await append(url, name, JSON.stringify({ merge: { [key]: key.repeat(3 * 1024 * 1024) } }))
    const reader = await SseReader.open(`${url}/v1/live/${name}`, { paused: true })
    // Entries committed while the window is on its way: they count against the budget, it does not.
    for (let i = 1; i <= 5; i++) await append(url, name, JSON.stringify({ merge: { i } }))
    reader.resume()
    const model = new StateModel()
    await model.follow(reader, 9, 120_000)
    expect(model.windows).toBe(1)
    expect(reader.done).toBe(false)
    reader.close()
  })

  test('a window written a piece a turn stays one event: ticks and entries wait until it is whole', { timeout: 120_000 }, async ({ serve }) => {
    // A heartbeat every ms, so that many fall due while a 4 MB window goes out a piece per turn.
    const { url } = await serve({ heartbeatMs: 1 })
    const name = await createStateStream(url, 'paced/window')
    for (const key of ['a', 'b', 'c', 'd']) await append(url, name, JSON.stringify({ merge: { [key]: key.repeat(1024 * 1024) } }))
    // Two readers at once take turns; one does not read at first, so its pieces also wait in line.
    const [paused, reading] = await Promise.all([
      SseReader.open(`${url}/v1/live/${name}`, { paused: true }),
      SseReader.open(`${url}/v1/live/${name}`),
    ])
    for (let i = 1; i <= 3; i++) await append(url, name, JSON.stringify({ merge: { i } }))
    paused.resume()
    for (const reader of [paused, reading]) {
      const model = new StateModel()
      // StateModel takes heartbeats in its stride and throws on any event it cannot parse.
      await model.follow(reader, 7, 60_000)
      expect(model.windows).toBe(1)
      expect((model.state as Record<string, string>).d).toBe('d'.repeat(1024 * 1024))
      expect(reader.done).toBe(false)
      reader.close()
    }
  })

  test('heartbeats arrive on an idle connection', async ({ serve }) => {
    const { url } = await serve({ heartbeatMs: 100 })
    const name = await createStateStream(url, 'beat')
    const reader = await SseReader.open(`${url}/v1/live/${name}`)
    await reader.waitFor((event) => event.event === 'window')
    const beats = [await reader.next(), await reader.next()]
    for (const beat of beats) {
      expect(beat.event).toBe('heartbeat')
      expect(beat.id).toBe('0')
      expect(JSON.parse(beat.data).ts).toBeGreaterThan(0)
    }
    reader.close()
  })

  test('deleting the stream ends its tails with STREAM_DELETED', async ({ serve }) => {
    const { url } = await serve()
    const name = await createStateStream(url, 'doomed')
    await append(url, name, JSON.stringify({ merge: { a: 1 } }))
    const fresh = await SseReader.open(`${url}/v1/live/${name}`)
    const resumed = await SseReader.open(`${url}/v1/live/${name}?after=1`)
    await fresh.waitFor((event) => event.event === 'window')
    await deleteStream(url, name)
    for (const reader of [fresh, resumed]) {
      const error = await reader.waitFor((event) => event.event === 'error')
      expect(JSON.parse(error.data).error.code).toBe('STREAM_DELETED')
      expect((await reader.waitEnd()).error).toBeUndefined()
    }
    // Gone for new readers too.
    const again = await SseReader.open(`${url}/v1/live/${name}`)
    expect(again.status).toBe(404)
    expect(JSON.parse(await again.text()).error.code).toBe('STREAM_NOT_FOUND')
  })

  test('a resume naming its held window: kept while the window is the stream’s, refused with 410 once the name is another stream’s', async ({ serve }) => {
    const { url } = await serve()
    const name = await createStateStream(url, 'held/window', 2)
    for (let i = 1; i <= 3; i++) await append(url, name, JSON.stringify({ merge: { old: i } }))
    // Windows start at seq 0 (creation) and seq 2 (a snapshot); the open one runs from 2.
    const first = await getJson<{ start: { seq: number; ts: number } }>(url, `/v1/window/${name}?seq=1`)
    const open = await getJson<{ start: { seq: number; ts: number } }>(url, `/v1/window/${name}?at=now`)
    expect([first.body.start.seq, open.body.start.seq]).toEqual([0, 2])
    const held = (start: { seq: number; ts: number }): string => `window=${start.seq}.${start.ts}`

    // Its own windows, open or closed since: the resume goes on, entries after `after` only.
    for (const start of [open.body.start, first.body.start]) {
      const reader = await SseReader.open(`${url}/v1/live/${name}?after=2&${held(start)}`)
      expect(reader.status).toBe(200)
      const entry = await reader.waitFor((event) => event.event === 'entry')
      expect(JSON.parse(entry.data).seq).toBe(3)
      reader.close()
    }
    // A start the stream never had (a time off by one), and then the name made again.
    const wrong = await SseReader.open(`${url}/v1/live/${name}?after=2&window=2.${open.body.start.ts + 1}`, { paused: true })
    expect(wrong.status).toBe(410)
    expect(JSON.parse(await wrong.text()).error.code).toBe('STREAM_DELETED')
    await deleteStream(url, name)
    // Made again a millisecond before the first was: no window of it can start where the first's did.
    const made = await fetch(`${url}/v1/stream/${name}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'stream-kind': 'state', 'stream-snapshot-entries': '2', 'stream-created-at': String(first.body.start.ts - 1) },
    })
    expect(made.status).toBe(201)
    for (let i = 1; i <= 3; i++) await append(url, name, JSON.stringify({ merge: { neu: i } }))
    const again = await SseReader.open(`${url}/v1/live/${name}?after=2&${held(first.body.start)}`, { paused: true })
    expect(again.status).toBe(410)
    expect(JSON.parse(await again.text()).error.code).toBe('STREAM_DELETED')
    // Fresh, it is the new stream's.
    const fresh = await SseReader.open(`${url}/v1/live/${name}`)
    const window = await fresh.waitFor((event) => event.event === 'window')
    expect(JSON.parse(window.data).start.state).toEqual({ neu: 2 })
    fresh.close()
  })

  test.for([
    ['an unknown stream', '/v1/live/nope', {}, 404, 'STREAM_NOT_FOUND'],
    ['a plain stream', '/v1/live/plain', {}, 409, 'NOT_A_STATE_STREAM'],
    ['an invalid name', '/v1/live/bad%20name', {}, 400, 'INVALID_STREAM_NAME'],
    ['a Last-Event-ID that is not a seq', '/v1/live/st', { 'last-event-id': 'x1' }, 400, 'INVALID_PARAMETER'],
    ['a Last-Event-ID beyond the head', '/v1/live/st', { 'last-event-id': '99' }, 400, 'INVALID_PARAMETER'],
    ['an after= that is not a seq', '/v1/live/st?after=-1', {}, 400, 'INVALID_PARAMETER'],
    ['a held window that is not <seq>.<ts>', '/v1/live/st?after=0&window=0', {}, 400, 'INVALID_PARAMETER'],
    ['a held window of negative numbers', '/v1/live/st?after=0&window=-1.5', {}, 400, 'INVALID_PARAMETER'],
  ] as const)('refuses %s with a JSON error', async ([, path, headers, status, code], { serve }) => {
    const { url } = await serve()
    await createStateStream(url, 'st')
    await createPlainStream(url, 'plain', 'application/json')
    const reader = await SseReader.open(`${url}${path}`, { headers: { ...headers }, paused: true })
    expect(reader.status).toBe(status)
    expect(JSON.parse(await reader.text()).error.code).toBe(code)
  })
})
