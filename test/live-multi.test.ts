/**
 * The multiplexed `/v1/live?stream=a&stream=b…`: several state streams on one connection, entries
 * in global-position order (`id:` = gpos), clock ticks while the streams are idle, resume by gpos.
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
  gpos = -1
  clocks = 0
  #previous: MultiEntry | undefined

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
        // Every window of one connection is read at the same gpos, and that is its id.
        if (this.gpos === -1) this.gpos = Number(event.id)
        expect(event.id).toBe(String(this.gpos))
        break
      }
      case 'entry': {
        const entry = data as unknown as MultiEntry
        expect(entry.gpos, 'entries in gpos order').toBeGreaterThan(this.gpos)
        expect(event.id).toBe(String(entry.gpos))
        const held = this.states.get(entry.stream)
        if (held === undefined) throw new Error(`entry of a stream not asked for: ${entry.stream}`)
        expect(entry.seq, `${entry.stream}: entry after ${held.seq}`).toBe(held.seq + 1)
        this.states.set(entry.stream, { seq: entry.seq, state: apply(held.state, entry.m) })
        this.gpos = entry.gpos
        this.#previous = entry
        break
      }
      case 'bound': {
        const bound = data as { stream: string; seq: number }
        expect(this.#previous?.stream).toBe(bound.stream)
        expect(this.#previous?.seq).toBe(bound.seq)
        this.bounds.push(bound)
        break
      }
      case 'clock':
        this.clocks += 1
        // A tick never claims a gpos the reader has not caught up to.
        expect(data.gpos as number).toBeGreaterThanOrEqual(this.gpos)
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
    expect(window.id).toBe('0')
    const tick = await reader.next()
    expect(tick.event).toBe('clock')
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

  test.for([
    ['more streams than allowed', '?stream=a&stream=b&stream=c&stream=d', {}, 400, 'TOO_MANY_STREAMS'],
    ['no stream', '', {}, 400, 'INVALID_PARAMETER'],
    ['an invalid name', '?stream=a&stream=bad%20name', {}, 400, 'INVALID_STREAM_NAME'],
    ['an unknown stream', '?stream=a&stream=nope', {}, 404, 'STREAM_NOT_FOUND'],
    ['a plain stream', '?stream=a&stream=plain', {}, 409, 'NOT_A_STATE_STREAM'],
    ['a Last-Event-ID beyond the server gpos', '?stream=a', { 'last-event-id': '1000' }, 400, 'INVALID_PARAMETER'],
  ] as const)('refuses %s with a JSON error', async ([, query, headers, status, code], { serve }) => {
    const { url } = await serve({ maxStreamsPerConnection: 3 })
    for (const name of ['a', 'b', 'c', 'd']) await createStateStream(url, name)
    await createPlainStream(url, 'plain', 'application/json')
    const reader = await SseReader.open(`${url}/v1/live${query}`, { headers: { ...headers }, paused: true })
    expect(reader.status).toBe(status)
    expect(JSON.parse(await reader.text()).error.code).toBe(code)
  })
})
