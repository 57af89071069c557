/**
 * The multiplexed `/v1/live?stream=a&stream=b…`: several state streams on one connection, entries
 * in global-position order (`id:` = gpos), clock ticks while the streams are idle, resume by gpos,
 * and per-stream resume points (`stream=<name>@<seq>`) that send a held stream no window.
 */
import { apply } from '@statestream/common'
import type { Json, Mutation } from '@statestream/common'
import { describe, expect } from 'vitest'
import { liveTest as test, append, createPlainStream, createStateStream, deleteStream, getJson, sleep } from './support/live-server.ts'
import { SseReader } from './support/sse.ts'
import type { SseEvent } from './support/sse.ts'

interface MultiEntry {
  stream: string
  seq: number
  ts: number
  m: Mutation
  gpos: number
}

/** One reader's view of several streams, checking the multiplexed contract as events arrive. */
class MultiModel {
  readonly states = new Map<string, { seq: number; state: Json }>()
  readonly bounds: Array<{ stream: string; seq: number }> = []
  readonly windows: string[] = []
  /** Bounds sent again at a resume point (`<name>@<seq>` at a snapshot). */
  readonly resumeBounds: Array<{ stream: string; seq: number }> = []
  gpos = -1
  clocks = 0
  #previous: MultiEntry | undefined
  /** Whether this connection sent windows whose gpos its first clock is yet to give. */
  #windowsPending = false
  /** Whether a clock came on this connection (the initial data is over). */
  #ticked = false
  /** Streams with an entry or a window on this connection so far. */
  readonly #touched = new Set<string>()

  constructor(resume?: { gpos: number; states: Map<string, { seq: number; state: Json }> }) {
    if (resume !== undefined) {
      this.gpos = resume.gpos
      for (const [name, state] of resume.states) this.states.set(name, { ...state })
    }
  }

  apply(event: SseEvent): void {
    const data = JSON.parse(event.data) as Record<string, unknown>
    switch (event.event) {
      case 'window': {
        const window = data as { stream: string; start: { seq: number; state: Json }; entries: Array<{ seq: number; m: Mutation }> }
        let state = window.start.state
        let seq = window.start.seq
        for (const entry of window.entries) {
          expect(entry.seq).toBe(seq + 1)
          state = apply(state, entry.m)
          seq = entry.seq
        }
        this.states.set(window.stream, { seq, state })
        this.windows.push(window.stream)
        this.#touched.add(window.stream)
        // Windows are initial data: no id of their own (a reader cut among them has no place in
        // the gpos order yet); the clock that ends the initial data gives their gpos.
        expect(this.#ticked, 'windows only in the initial data').toBe(false)
        expect(event.id, 'a window has no id').toBeUndefined()
        this.#windowsPending = true
        break
      }
      case 'entry': {
        const entry = data as unknown as MultiEntry
        expect(entry.gpos, 'entries in gpos order').toBeGreaterThan(this.gpos)
        // Caught up in the initial data of a connection that is not a resume by gpos: no id yet.
        if (this.#ticked || event.id !== undefined) expect(event.id).toBe(String(entry.gpos))
        const held = this.states.get(entry.stream)
        if (held === undefined) throw new Error(`entry of a stream not asked for: ${entry.stream}`)
        expect(entry.seq, `${entry.stream}: entry after ${held.seq}`).toBe(held.seq + 1)
        this.states.set(entry.stream, { seq: entry.seq, state: apply(held.state, entry.m) })
        this.gpos = entry.gpos
        this.#previous = entry
        this.#touched.add(entry.stream)
        break
      }
      case 'bound': {
        const bound = data as { stream: string; seq: number }
        if (!this.#touched.has(bound.stream) && this.#previous?.stream !== bound.stream) {
          // Before anything else of its stream: the bound at the point the reader resumed from.
          expect(bound.seq, `${bound.stream}: a resume bound at the held seq`).toBe(this.seqOf(bound.stream))
          this.resumeBounds.push(bound)
          break
        }
        expect(this.#previous?.stream).toBe(bound.stream)
        expect(this.#previous?.seq).toBe(bound.seq)
        this.bounds.push(bound)
        break
      }
      case 'clock':
        this.clocks += 1
        // A tick never claims a gpos the reader has not caught up to.
        expect(data.gpos as number).toBeGreaterThanOrEqual(this.gpos)
        if (this.#windowsPending) {
          // The clock that ends the initial data: its id is the gpos the windows were read at.
          expect(event.id).toBe(String(data.gpos))
          this.gpos = data.gpos as number
          this.#windowsPending = false
        }
        this.#ticked = true
        break
      case 'error':
        throw new Error(`unexpected error event: ${event.data}`)
      default:
        throw new Error(`unexpected event ${event.event}`)
    }
  }

  seqOf(stream: string): number {
    return this.states.get(stream)?.seq ?? -1
  }

  /** Applies events until every stream in `heads` has reached its head seq. */
  async follow(reader: SseReader, heads: Record<string, number>): Promise<void> {
    while (Object.entries(heads).some(([stream, seq]) => this.seqOf(stream) < seq)) this.apply(await reader.next())
  }
}

const liveUrl = (url: string, streams: string[], extra = ''): string =>
  `${url}/v1/live?${streams.map((stream) => `stream=${encodeURIComponent(stream)}`).join('&')}${extra}`

async function headSeq(url: string, name: string): Promise<number> {
  return (await getJson<{ seq: number }>(url, `/v1/state/${name}`)).body.seq
}

/** What a reader holding `name` up to entry `seq` knows of it. */
async function heldAt(url: string, name: string, seq: number): Promise<[string, { seq: number; state: Json }]> {
  const { body } = await getJson<{ seq: number; state: Json }>(url, `/v1/state/${name}?seq=${seq}`)
  return [name, { seq: body.seq, state: body.state }]
}

/** `[stream, seq]` of an entry or bound event. */
const streamSeq = (event: SseEvent): [string, number] => {
  const data = JSON.parse(event.data) as { stream: string; seq: number }
  return [data.stream, data.seq]
}

describe('GET /v1/live?stream=…', () => {
  test('entries of several streams interleave in gpos order, each stream gapless, states right', async ({ serve }) => {
    const { url } = await serve({ clockMs: 200 })
    const streams = ['m/a', 'm/b', 'm/c']
    for (const name of streams) await createStateStream(url, name, 6)
    await createStateStream(url, 'm/other')
    await append(url, 'm/a', JSON.stringify({ set: { n: 0 } }))

    const reader = await SseReader.open(liveUrl(url, streams))
    expect(reader.status).toBe(200)
    const model = new MultiModel()
    // Writers to every stream, and to one the reader did not ask for.
    await Promise.all(
      [...streams, 'm/other'].map(async (name, w) => {
        for (let i = 0; i < 30; i++) await append(url, name, JSON.stringify({ merge: { [`w${w}`]: i, list: [w, i] } }))
      }),
    )
    const heads = Object.fromEntries(await Promise.all(streams.map(async (name) => [name, await headSeq(url, name)] as const)))
    await model.follow(reader, heads)
    expect(model.windows).toEqual(streams)
    for (const name of streams) {
      expect(model.states.get(name)?.state).toEqual((await getJson<{ state: Json }>(url, `/v1/state/${name}`)).body.state)
    }
    expect(model.bounds.filter((bound) => bound.stream === 'm/b').map((bound) => bound.seq)).toEqual([6, 12, 18, 24, 30])
    reader.close()
  })

  test('clock ticks arrive while the streams are idle and follow the whole server', async ({ serve }) => {
    const { url } = await serve({ clockMs: 100 })
    await createStateStream(url, 'quiet')
    await createStateStream(url, 'busy')
    const reader = await SseReader.open(liveUrl(url, ['quiet']))
    const window = await reader.next()
    expect(window.event).toBe('window')
    expect(window.id).toBeUndefined()
    // The initial data ends with a clock: its id is the gpos the window was read at.
    const tick = await reader.next()
    expect(tick.event).toBe('clock')
    expect(tick.id).toBe('0')
    expect(JSON.parse(tick.data)).toEqual({ gpos: 0, ts: expect.any(Number) })

    // Another stream advances the server: the quiet reader's clock says so, with no entry of its own.
    for (let i = 0; i < 5; i++) await append(url, 'busy', JSON.stringify({ merge: { i } }))
    const advanced = await reader.waitFor((event) => event.event === 'clock' && JSON.parse(event.data).gpos === 5)
    expect(JSON.parse(advanced.data).ts).toBeGreaterThanOrEqual(JSON.parse(tick.data).ts)
    expect(reader.events.filter((event) => event.event === 'entry')).toEqual([])
    reader.close()
  })

  test('a cut connection resumes by gpos: merged catch-up in gpos order across pages, then live', async ({ serve }) => {
    const { url } = await serve({ clockMs: 60_000 })
    const streams = ['r/a', 'r/b']
    for (const name of streams) await createStateStream(url, name, 100)
    await createStateStream(url, 'r/noise')

    const first = await SseReader.open(liveUrl(url, streams))
    const model = new MultiModel()
    model.apply(await first.next())
    model.apply(await first.next())
    await append(url, 'r/a', JSON.stringify({ merge: { a: 0 } }))
    await append(url, 'r/b', JSON.stringify({ merge: { b: 0 } }))
    await model.follow(first, { 'r/a': 1, 'r/b': 1 })
    first.close()
    const lastId = first.lastId as string
    expect(Number(lastId)).toBe(model.gpos)

    // While disconnected: well over a catch-up page (500) of entries, interleaved in batches.
    for (let round = 0; round < 12; round++) {
      for (const name of [...streams, 'r/noise']) {
        const batch = Array.from({ length: 40 }, (_, i) => ({ merge: { [name]: round * 40 + i } }))
        await append(url, name, JSON.stringify(batch))
      }
    }
    const resumed = await SseReader.open(liveUrl(url, streams), { headers: { 'last-event-id': lastId } })
    const heads = { 'r/a': 481, 'r/b': 481 }
    await model.follow(resumed, heads)
    expect(model.windows).toEqual(streams)
    for (const name of streams) {
      expect(model.states.get(name)?.state).toEqual((await getJson<{ state: Json }>(url, `/v1/state/${name}`)).body.state)
    }
    // Bounds replayed in place during the catch-up.
    expect(model.bounds.filter((bound) => bound.stream === 'r/a').map((bound) => bound.seq)).toEqual([100, 200, 300, 400])

    await append(url, 'r/b', JSON.stringify({ merge: { live: true } }))
    await model.follow(resumed, { 'r/b': 482 })
    resumed.close()
  })

  test('duplicate names count once', async ({ serve }) => {
    const { url } = await serve()
    await createStateStream(url, 'dup')
    await createStateStream(url, 'other')
    const reader = await SseReader.open(`${url}/v1/live?stream=dup&stream=other&stream=dup`)
    const windows = [await reader.next(), await reader.next()]
    expect(windows.map((event) => JSON.parse(event.data).stream)).toEqual(['dup', 'other'])
    await append(url, 'dup', JSON.stringify({ merge: { x: 1 } }))
    const entry = await reader.waitFor((event) => event.event !== 'clock')
    expect(entry.event).toBe('entry')
    await sleep(200)
    // One entry, not one per mention of the stream.
    expect(reader.pending.filter((event) => event.event === 'entry')).toEqual([])
    reader.close()
  })

  test('deleting one of the streams ends the connection with STREAM_DELETED', async ({ serve }) => {
    const { url } = await serve()
    await createStateStream(url, 'stay')
    await createStateStream(url, 'go')
    const reader = await SseReader.open(liveUrl(url, ['stay', 'go']))
    await reader.next()
    await reader.next()
    await deleteStream(url, 'go')
    const error = await reader.waitFor((event) => event.event === 'error')
    expect(JSON.parse(error.data).error.code).toBe('STREAM_DELETED')
    await reader.waitEnd()
  })

  test('a reader cut among the initial windows has no Last-Event-ID yet, and starting over gives it every stream', async ({ serve }) => {
    const { url } = await serve({ clockMs: 60_000 })
    for (const name of ['w/a', 'w/b']) await createStateStream(url, name)
    await append(url, 'w/b', JSON.stringify({ set: { b: 'important' } }))
    await append(url, 'w/a', JSON.stringify({ set: { a: 1 } }))

    const first = await SseReader.open(liveUrl(url, ['w/a', 'w/b']))
    // The id a reader holds after each event (what an EventSource would send on reconnecting):
    // none after either window, so a cut between them starts over.
    const windows = [await first.next(), await first.next()]
    expect(windows.map((event) => [event.event, event.id])).toEqual([
      ['window', undefined],
      ['window', undefined],
    ])
    first.close()

    const again = await SseReader.open(liveUrl(url, ['w/a', 'w/b']))
    const model = new MultiModel()
    await model.follow(again, { 'w/a': 1, 'w/b': 1 })
    expect(model.states.get('w/b')?.state).toEqual({ b: 'important' })
    const clock = await again.waitFor((event) => event.event === 'clock')
    // Once the initial data is whole, the reader's id is its place in the gpos order.
    expect(again.lastId).toBe('2')
    expect(JSON.parse(clock.data).gpos).toBe(2)
    again.close()
  })

  test('<name>@<seq>: no window for a held stream, only its entries after seq, merged in gpos order; others get windows; then live', async ({ serve }) => {
    const { url } = await serve({ clockMs: 60_000 })
    const streams = ['h/a', 'h/b', 'h/c']
    for (const name of streams) await createStateStream(url, name)
    for (let i = 1; i <= 4; i++) for (const name of streams) await append(url, name, JSON.stringify({ merge: { [name]: i } }))
    // The reader holds h/a up to entry 1 and h/b up to entry 2 (as a client's held open windows would).
    const model = new MultiModel({ gpos: -1, states: new Map([await heldAt(url, 'h/a', 1), await heldAt(url, 'h/b', 2)]) })

    const reader = await SseReader.open(liveUrl(url, ['h/a@1', 'h/b@2', 'h/c']))
    expect(reader.status).toBe(200)
    const initial: SseEvent[] = []
    for (let i = 0; i < 7; i++) {
      const event = await reader.next()
      model.apply(event)
      initial.push(event)
    }
    expect(initial.map((event) => event.event)).toEqual(['entry', 'entry', 'entry', 'entry', 'entry', 'window', 'clock'])
    // Only what the reader lacked, the two streams interleaved as they were written.
    expect(initial.slice(0, 5).map(streamSeq)).toEqual([['h/a', 2], ['h/a', 3], ['h/b', 3], ['h/a', 4], ['h/b', 4]])
    expect(model.windows).toEqual(['h/c'])
    // The initial data ends with a clock at the gpos it was read at: what the held states are current
    // at. It is the first event with an id: a reader cut before it starts over.
    expect(initial.slice(0, 6).map((event) => event.id)).toEqual(Array(6).fill(undefined))
    const at = Number(initial[6]?.id)
    expect(JSON.parse(initial[6]?.data ?? '{}')).toEqual({ gpos: at, ts: expect.any(Number) })
    expect(at).toBe(12)

    await append(url, 'h/b', JSON.stringify({ merge: { live: true } }))
    await model.follow(reader, { 'h/b': 5 })
    for (const name of streams) {
      expect(model.states.get(name)).toEqual({ seq: await headSeq(url, name), state: (await getJson<{ state: Json }>(url, `/v1/state/${name}`)).body.state })
    }
    reader.close()
  })

  test('<name>@<seq> at a snapshot sends that bound again first; one before it gets the bound after its entry', async ({ serve }) => {
    const { url } = await serve({ clockMs: 60_000 })
    for (const name of ['s/a', 's/b']) {
      await createStateStream(url, name, 3)
      for (let i = 1; i <= 4; i++) await append(url, name, JSON.stringify({ merge: { i } }))
    }
    const model = new MultiModel({ gpos: -1, states: new Map([await heldAt(url, 's/a', 3), await heldAt(url, 's/b', 2)]) })
    const reader = await SseReader.open(liveUrl(url, ['s/a@3', 's/b@2']))
    const initial: SseEvent[] = []
    for (let i = 0; i < 6; i++) {
      const event = await reader.next()
      model.apply(event)
      initial.push(event)
    }
    expect(initial.map((event) => [event.event, ...(event.event === 'clock' ? [] : streamSeq(event))])).toEqual([
      ['bound', 's/a', 3],
      ['entry', 's/a', 4],
      ['entry', 's/b', 3],
      ['bound', 's/b', 3],
      ['entry', 's/b', 4],
      ['clock'],
    ])
    expect(model.resumeBounds.map((bound) => [bound.stream, bound.seq])).toEqual([['s/a', 3]])
    // Nothing of the initial data has an id but the clock that ends it.
    expect(initial.slice(0, 5).map((event) => event.id)).toEqual(Array(5).fill(undefined))
    expect(initial[5]?.id).toBe(String(JSON.parse(initial[5]?.data ?? '{}').gpos))
    expect(model.windows).toEqual([])
    reader.close()
  })

  test('<name>@<seq> more than 1000 entries behind gets the open window instead; 1000 behind gets the entries', async ({ serve }) => {
    const { url } = await serve({ clockMs: 60_000 })
    for (const name of ['p/over', 'p/edge']) {
      await createStateStream(url, name)
      await append(url, name, JSON.stringify(Array.from({ length: 1001 }, (_, i) => ({ merge: { [name]: i } }))))
    }
    const model = new MultiModel({ gpos: -1, states: new Map([await heldAt(url, 'p/over', 0), await heldAt(url, 'p/edge', 1)]) })
    const reader = await SseReader.open(liveUrl(url, ['p/over@0', 'p/edge@1']))
    await model.follow(reader, { 'p/over': 1001, 'p/edge': 1001 })
    const initial = reader.events.filter((event) => event.event !== 'bound')
    expect(model.windows).toEqual(['p/over'])
    expect(initial.filter((event) => event.event === 'entry').map((event) => streamSeq(event)[0])).toEqual(Array(1000).fill('p/edge'))
    for (const name of ['p/over', 'p/edge']) {
      expect(model.states.get(name)?.state).toEqual((await getJson<{ state: Json }>(url, `/v1/state/${name}`)).body.state)
    }
    reader.close()
  })

  test('a resume by gpos right after an entry that closed a window gets that bound again first, with no id', async ({ serve }) => {
    const { url } = await serve({ clockMs: 60_000 })
    await createStateStream(url, 'r/a', 3)
    await createStateStream(url, 'r/b')
    // gpos 1-3: r/a's entries 1-3 (entry 3 closes its first window); gpos 4: r/b's entry 1.
    for (let i = 1; i <= 3; i++) await append(url, 'r/a', JSON.stringify({ merge: { i } }))
    await append(url, 'r/b', JSON.stringify({ merge: { i: 1 } }))

    const reader = await SseReader.open(liveUrl(url, ['r/a', 'r/b']), { headers: { 'last-event-id': '3' } })
    const bound = await reader.next()
    expect([bound.event, ...streamSeq(bound)]).toEqual(['bound', 'r/a', 3])
    expect(bound.id).toBeUndefined()
    const entry = await reader.next()
    expect([entry.event, ...streamSeq(entry), entry.id]).toEqual(['entry', 'r/b', 1, '4'])
    reader.close()

    // Resuming where no window closed sends entries only.
    const plain = await SseReader.open(liveUrl(url, ['r/a', 'r/b']), { headers: { 'last-event-id': '2' } })
    const first = await plain.next()
    expect([first.event, ...streamSeq(first)]).toEqual(['entry', 'r/a', 3])
    plain.close()
  })

  test('Last-Event-ID wins over <name>@<seq>: the points are ignored, even one beyond the head', async ({ serve }) => {
    const { url } = await serve({ clockMs: 60_000 })
    for (const name of ['l/a', 'l/b']) await createStateStream(url, name)
    for (let i = 1; i <= 2; i++) for (const name of ['l/a', 'l/b']) await append(url, name, JSON.stringify({ merge: { i } }))
    const reader = await SseReader.open(liveUrl(url, ['l/a@99', 'l/b@1']), { headers: { 'last-event-id': '1' } })
    expect(reader.status).toBe(200)
    const events = [await reader.next(), await reader.next(), await reader.next()]
    // Everything after gpos 1, l/b's entry 1 included although the point said it was held.
    expect(events.map((event) => [event.event, ...streamSeq(event)])).toEqual([
      ['entry', 'l/b', 1],
      ['entry', 'l/a', 2],
      ['entry', 'l/b', 2],
    ])
    await sleep(100)
    expect(reader.pending).toEqual([])
    reader.close()
  })

  test.for([
    ['more streams than allowed', '?stream=a&stream=b&stream=c&stream=d', {}, 400, 'TOO_MANY_STREAMS'],
    ['no stream', '', {}, 400, 'INVALID_PARAMETER'],
    ['an invalid name', '?stream=a&stream=bad%20name', {}, 400, 'INVALID_STREAM_NAME'],
    ['an unknown stream', '?stream=a&stream=nope', {}, 404, 'STREAM_NOT_FOUND'],
    ['a plain stream', '?stream=a&stream=plain', {}, 409, 'NOT_A_STATE_STREAM'],
    ['a Last-Event-ID beyond the server gpos', '?stream=a', { 'last-event-id': '1000' }, 400, 'INVALID_PARAMETER'],
    ['a resume point beyond the head', '?stream=a&stream=b@1', {}, 400, 'INVALID_PARAMETER'],
    ['a resume point that is not a seq', '?stream=a@x', {}, 400, 'INVALID_PARAMETER'],
    ['a negative resume point', '?stream=a@-1', {}, 400, 'INVALID_PARAMETER'],
    ['a fractional resume point', '?stream=a@0.5', {}, 400, 'INVALID_PARAMETER'],
    ['an empty resume point', '?stream=a@', {}, 400, 'INVALID_PARAMETER'],
    ['two resume points', '?stream=a@0@0', {}, 400, 'INVALID_PARAMETER'],
    ['one stream with and without a resume point', '?stream=a&stream=a@0', {}, 400, 'INVALID_PARAMETER'],
    ['a resume point on an invalid name', '?stream=bad%20name@0', {}, 400, 'INVALID_STREAM_NAME'],
    ['a resume point on an unknown stream', '?stream=nope@0', {}, 404, 'STREAM_NOT_FOUND'],
    ['a held window of a stream not asked for', '?stream=a&window=b@0.1', {}, 400, 'INVALID_PARAMETER'],
    ['a held window without its stream', '?stream=a&window=0.1', {}, 400, 'INVALID_PARAMETER'],
    ['a held window that is not <seq>.<ts>', '?stream=a&window=a@0', {}, 400, 'INVALID_PARAMETER'],
    ['two held windows for one stream', '?stream=a&window=a@0.1&window=a@0.2', {}, 400, 'INVALID_PARAMETER'],
    ['a held window the stream never had', '?stream=a@0&stream=b&window=a@0.1', {}, 410, 'STREAM_DELETED'],
    ['the same, resuming by gpos', '?stream=a&stream=b&window=b@0.1', { 'last-event-id': '0' }, 410, 'STREAM_DELETED'],
  ] as const)('refuses %s with a JSON error', async ([, query, headers, status, code], { serve }) => {
    const { url } = await serve({ maxStreamsPerConnection: 3 })
    for (const name of ['a', 'b', 'c', 'd']) await createStateStream(url, name)
    await createPlainStream(url, 'plain', 'application/json')
    const reader = await SseReader.open(`${url}/v1/live${query}`, { headers: { ...headers }, paused: true })
    expect(reader.status).toBe(status)
    expect(JSON.parse(await reader.text()).error.code).toBe(code)
  })
})
