/**
 * Appends to state streams: all or nothing per request, validated against the current state,
 * `ts` assigned as `max(now, last ts)` or given by the writer (never earlier than the last), and
 * concurrent requests committed together without affecting one another.
 */
import type { ErrorCode, Json } from '@statestream/common'
import { describe, expect } from 'vitest'
import { append, createState, expectError, getJson, headSeq, observe, post, stateAt, test, windowAt } from './support.ts'

describe('a rejected mutation stores nothing from its request and leaves the stream appendable', () => {
  const valid = { merge: { added: true } }
  test.for([
    ['a failing test op', { patch: [{ op: 'test', path: '/a', value: 2 }] }, 'MUTATION_FAILED'],
    ['a replace at a missing path', { patch: [{ op: 'replace', path: '/missing/x', value: 1 }] }, 'MUTATION_FAILED'],
    ['a remove of a missing member', { patch: [{ op: 'remove', path: '/nope' }] }, 'MUTATION_FAILED'],
    ['an add into a missing parent', { patch: [{ op: 'add', path: '/no/such/parent', value: 1 }] }, 'MUTATION_FAILED'],
    ['an array index out of range', { patch: [{ op: 'add', path: '/list/9', value: 1 }] }, 'MUTATION_FAILED'],
    ['a move from a missing path', { patch: [{ op: 'move', from: '/ghost', path: '/b' }] }, 'MUTATION_FAILED'],
    ['a later op failing after earlier ones succeed', { patch: [{ op: 'add', path: '/z', value: 1 }, { op: 'test', path: '/z', value: 2 }] }, 'MUTATION_FAILED'],
    ['no mutation kind', { foo: 1 }, 'INVALID_MUTATION'],
    ['two mutation kinds', { merge: { a: 1 }, set: {} }, 'INVALID_MUTATION'],
    ['an unknown member', { merge: { a: 1 }, extra: 1 }, 'INVALID_MUTATION'],
    ['a patch that is not an array', { patch: { op: 'add' } }, 'INVALID_MUTATION'],
    ['an unknown patch op', { patch: [{ op: 'frobnicate', path: '/a' }] }, 'INVALID_MUTATION'],
    ['a patch op without a value', { patch: [{ op: 'add', path: '/a' }] }, 'INVALID_MUTATION'],
    ['a path that is not a pointer', { patch: [{ op: 'add', path: 'a', value: 1 }] }, 'INVALID_MUTATION'],
    ['a non-object message', 42, 'INVALID_MUTATION'],
    ['a null message', null, 'INVALID_MUTATION'],
    ['a nested array message', [[{ merge: {} }]], 'INVALID_MUTATION'],
    ['a string ts', { merge: {}, ts: '2024-01-01' }, 'INVALID_MUTATION'],
    ['a fractional ts', { merge: {}, ts: 1.5 }, 'INVALID_MUTATION'],
    ['a negative ts', { merge: {}, ts: -1 }, 'INVALID_MUTATION'],
  ] as const)('%s', async ([, bad, code], { app }) => {
    await createState(app, 's', { entries: 2 })
    await append(app, 's', { set: { a: 1, list: [0] } })
    const before = await observe(app, 's')
    const windowsBefore = (await app.inject({ url: '/v1/windows/s' })).body

    // Alone, last in a batch, first in a batch: nothing of the request is stored.
    for (const body of [bad, [valid, valid, bad], [bad, valid]] as Json[]) {
      const res = await post(app, 's', body)
      expectError(res, code as ErrorCode)
      expect(await observe(app, 's')).toEqual(before)
    }
    // No snapshot was taken by the rolled-back entries either.
    expect((await app.inject({ url: '/v1/windows/s' })).body).toBe(windowsBefore)

    // The stream is still appendable, with gapless seqs.
    expect(await append(app, 's', [valid, { merge: { b: 2 } }])).toBe(3)
    expect((await stateAt(app, 's', '')).state).toEqual({ a: 1, list: [0], added: true, b: 2 })
    expect((await windowAt(app, 's', 'seq=0')).entries.map((e) => e.seq)).toEqual([1, 2])
    expect((await windowAt(app, 's', 'seq=2')).entries.map((e) => e.seq)).toEqual([3])
  })

  test('a batch whose later message depends on an earlier one in it is applied in order', async ({ app }) => {
    await createState(app, 's')
    await append(app, 's', [
      { set: { list: [] } },
      { patch: [{ op: 'add', path: '/list/-', value: 'x' }] },
      { patch: [{ op: 'test', path: '/list/0', value: 'x' }, { op: 'replace', path: '/list/0', value: 'y' }] },
    ])
    expect(await stateAt(app, 's', '')).toMatchObject({ seq: 3, state: { list: ['y'] } })
  })

  test('a rejected first PUT body creates no stream', async ({ app }) => {
    const res = await app.inject({
      method: 'PUT',
      url: '/v1/stream/s',
      headers: { 'content-type': 'application/json', 'stream-kind': 'state' },
      payload: JSON.stringify([{ set: { a: 1 } }, { patch: [{ op: 'remove', path: '/b' }] }]),
    })
    expectError(res, 'MUTATION_FAILED')
    expectError(await app.inject({ url: '/v1/state/s' }), 'STREAM_NOT_FOUND')
    // The name is free, and a good PUT works.
    await createState(app, 's', {}, { set: { a: 1 } })
    expect(await stateAt(app, 's', '')).toMatchObject({ seq: 1, state: { a: 1 } })
  })
})

describe('ts', () => {
  test('the server assigns max(now, last ts): a clock that steps back never makes ts decrease', async ({ app, clock }) => {
    clock.set(10_000)
    await createState(app, 's')
    clock.set(10_005)
    await append(app, 's', { merge: { n: 1 } })
    clock.set(9_000) // the wall clock stepped back
    await append(app, 's', { merge: { n: 2 } })
    clock.set(10_010)
    await append(app, 's', { merge: { n: 3 } })
    const entries = (await windowAt(app, 's', 'at=now')).entries
    expect(entries.map((e) => e.ts)).toEqual([10_005, 10_005, 10_010])
  })

  test('a writer ts equal to or after the last is kept; an earlier one is a 409 TS_REGRESSION', async ({ app, clock }) => {
    clock.set(1_000)
    await createState(app, 's')
    await append(app, 's', { merge: { n: 1 }, ts: 5_000 })
    await append(app, 's', { merge: { n: 2 }, ts: 5_000 })
    const before = await observe(app, 's')
    expectError(await post(app, 's', { merge: { n: 3 }, ts: 4_999 }), 'TS_REGRESSION')
    expect(await observe(app, 's')).toEqual(before)
    // The server's own ts after a writer's future ts: never earlier than it.
    await append(app, 's', { merge: { n: 3 } })
    await append(app, 's', { merge: { n: 4 }, ts: 6_000 })
    const entries = (await windowAt(app, 's', 'at=now')).entries
    expect(entries.map((e) => e.ts)).toEqual([5_000, 5_000, 5_000, 6_000])
    expect(await stateAt(app, 's', 'at=5999')).toMatchObject({ seq: 3, state: { n: 3 } })
  })

  test('a regression inside one batch refuses the whole batch', async ({ app, clock }) => {
    clock.set(1_000)
    await createState(app, 's')
    const before = await observe(app, 's')
    const res = await post(app, 's', [{ merge: { n: 1 }, ts: 3_000 }, { merge: { n: 2 }, ts: 2_000 }])
    expectError(res, 'TS_REGRESSION')
    expect(await observe(app, 's')).toEqual(before)
  })

  test('a writer ts earlier than the creation ts is a regression too', async ({ app, clock }) => {
    clock.set(1_000)
    await createState(app, 's')
    expectError(await post(app, 's', { merge: { n: 1 }, ts: 999 }), 'TS_REGRESSION')
    expect(await headSeq(app, 's')).toBe(0)
  })

  test('the log hands back each entry with the ts it was given', async ({ app, clock }) => {
    clock.set(1_000)
    await createState(app, 's')
    await append(app, 's', [{ merge: { n: 1 } }, { merge: { n: 2 }, ts: 2_000 }])
    const log = await getJson(app, '/v1/stream/s?offset=-1')
    expect(log).toEqual([
      { merge: { n: 1 }, ts: 1_000 },
      { merge: { n: 2 }, ts: 2_000 },
    ])
  })
})

describe('group commit', () => {
  test('many concurrent appends all succeed with gapless seqs', async ({ app }) => {
    await createState(app, 's', { entries: 7 })
    const n = 60
    const responses = await Promise.all(Array.from({ length: n }, (_, i) => post(app, 's', { merge: { [`k${i}`]: i } })))
    for (const res of responses) expect(res.statusCode, res.body).toBe(204)
    const offsets = responses.map((res) => Number(res.headers['stream-next-offset'])).sort((a, b) => a - b)
    expect(offsets).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    const { state } = await stateAt(app, 's', '')
    expect(Object.keys(state as object)).toHaveLength(n)
    // Snapshots taken mid-group replay to the same states as the log.
    for (const seq of [7, 14, 30, 59]) {
      const window = await windowAt(app, 's', `seq=${seq}`)
      expect(window.start?.seq).toBe(Math.floor(seq / 7) * 7)
    }
  })

  test('a failing append among concurrent ones affects none of the others', async ({ app }) => {
    await createState(app, 's')
    await append(app, 's', { set: { base: 0 } })
    const bodies: Json[] = Array.from({ length: 30 }, (_, i) =>
      i % 10 === 5 ? [{ merge: { [`bad${i}`]: i } }, { patch: [{ op: 'test', path: '/base', value: 'no' }] }] : { merge: { [`k${i}`]: i } },
    )
    const responses = await Promise.all(bodies.map((body) => post(app, 's', body)))
    responses.forEach((res, i) => {
      if (i % 10 === 5) expectError(res, 'MUTATION_FAILED')
      else expect(res.statusCode, res.body).toBe(204)
    })
    const good = responses.filter((res) => res.statusCode === 204)
    const offsets = good.map((res) => Number(res.headers['stream-next-offset'])).sort((a, b) => a - b)
    expect(offsets).toEqual(Array.from({ length: 27 }, (_, i) => i + 2))
    const state = (await stateAt(app, 's', '')).state as Record<string, number>
    expect(Object.keys(state).filter((k) => k.startsWith('bad'))).toEqual([])
    expect(Object.keys(state)).toHaveLength(28)
    expect(await headSeq(app, 's')).toBe(28)
  })

  test('concurrent appends to several streams keep each stream gapless', async ({ app }) => {
    const names = ['a', 'b', 'c']
    for (const name of names) await createState(app, name, { entries: 3 })
    const jobs = Array.from({ length: 45 }, (_, i) => post(app, names[i % 3] as string, { merge: { [`k${i}`]: i } }))
    const responses = await Promise.all(jobs)
    for (const res of responses) expect(res.statusCode).toBe(204)
    for (const name of names) {
      expect(await headSeq(app, name)).toBe(15)
      const log = await getJson<unknown[]>(app, `/v1/stream/${name}?offset=-1`)
      expect(log).toHaveLength(15)
    }
  })
})

test('stored bytes are counted in UTF-8, whether the body spells a character out or escapes it', async ({ app }) => {
  await createState(app, 's', { entries: 100 })
  // Raw multi-byte characters, `\u` escapes of them (sent as ASCII), an astral one, and plain ASCII.
  const bodies = ['[{"merge":{"a":"é"}},{"merge":{"b":"日本"}}]', '[{"merge":{"c":"\\u00e9\\u65e5"}}]', '{"merge":{"d":"😀"}}', '{"merge":{"e":"ascii"}}']
  for (const body of bodies) expect((await post(app, 's', body)).statusCode).toBeLessThan(300)
  const stored = [{ merge: { a: 'é' } }, { merge: { b: '日本' } }, { merge: { c: 'é日' } }, { merge: { d: '😀' } }, { merge: { e: 'ascii' } }]
  const expected = stored.reduce((sum, m) => sum + Buffer.byteLength(JSON.stringify(m)), 0)
  const listing = await getJson<{ windows: Array<{ bytes: number; entries: number }> }>(app, '/v1/windows/s')
  expect(listing.windows).toEqual([expect.objectContaining({ entries: 5, bytes: expected })])
  expect((await windowAt(app, 's', 'seq=0')).entries.map((e) => e.m)).toEqual(stored)
})

test('a batch is stored as JSON.stringify writes each message, however the body spells it', async ({ app }) => {
  await createState(app, 's')
  const spelled = ['{"merge":{"a":1.50}}', '{ "merge" : { "b" : [1, 2] } }', '{"merge":{"c":"\\u0041\\/"}}', '{"merge":{"d":1e2,"e":-0}}', '{"merge":{"f":"x,]}","g":-0.5,"h":true}}', '{"set":{"i":null,"j":{"k":"\\"q\\""}}}']
  const body = `[\n  ${spelled.join(',\n  ')}\n]`
  expect((await post(app, 's', body)).statusCode).toBeLessThan(300)
  const stored = spelled.map((text) => JSON.parse(JSON.stringify(JSON.parse(text))) as Json)
  const listing = await getJson<{ windows: Array<{ bytes: number; entries: number }> }>(app, '/v1/windows/s')
  const bytes = stored.reduce<number>((sum, m) => sum + Buffer.byteLength(JSON.stringify(m)), 0)
  expect(listing.windows).toEqual([expect.objectContaining({ entries: 6, bytes })])
  expect((await windowAt(app, 's', 'seq=0')).entries.map((e) => e.m)).toEqual(stored)
})

test('batches of every size are stored whole and in order, whatever statements carry them', async ({ app }) => {
  // Sizes around each statement size the writer uses (64, 16, 4, 1).
  const sizes = [1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 100, 150]
  await createState(app, 's', { entries: 10_000 })
  let n = 0
  for (const size of sizes) {
    await append(app, 's', Array.from({ length: size }, () => ({ merge: { [`k${n % 7}`]: n++ } })))
  }
  const entries = (await windowAt(app, 's', 'seq=0')).entries
  expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
  expect(entries.map((e) => e.m)).toEqual(Array.from({ length: n }, (_, i) => ({ merge: { [`k${i % 7}`]: i } })))
})

describe('Stream-Kind: state on an append', () => {
  const asState = (name: string, body: Json, kind = 'state') =>
    ({ method: 'POST', url: `/v1/stream/${name}`, headers: { 'content-type': 'application/json', 'stream-kind': kind }, payload: JSON.stringify(body) }) as const

  test('a state stream takes it as any append', async ({ app }) => {
    await createState(app, 's')
    expect((await app.inject(asState('s', { merge: { a: 1 } }))).statusCode).toBe(204)
    expect(await stateAt(app, 's', 'seq=1')).toMatchObject({ state: { a: 1 } })
  })

  test('a plain JSON stream refuses it and stores nothing, and takes the same body without it', async ({ app }) => {
    await app.inject({ method: 'PUT', url: '/v1/stream/plain', headers: { 'content-type': 'application/json' } })
    expectError(await app.inject(asState('plain', { merge: { a: 1 } })), 'NOT_A_STATE_STREAM')
    expect((await app.inject({ url: '/v1/stream/plain?offset=-1' })).body).toBe('[]')
    expect((await post(app, 'plain', { merge: { a: 1 } })).statusCode).toBe(204)
    expect((await app.inject({ url: '/v1/stream/plain?offset=-1' })).json()).toEqual([{ merge: { a: 1 } }])
  })

  test('any other kind is a bad parameter, and a missing stream is still not found', async ({ app }) => {
    await createState(app, 's')
    expectError(await app.inject(asState('s', { merge: { a: 1 } }, 'plain')), 'INVALID_PARAMETER')
    expect(await headSeq(app, 's')).toBe(0)
    expectError(await app.inject(asState('nope', { merge: { a: 1 } })), 'STREAM_NOT_FOUND')
  })
})
