/**
 * The client against a server with access control on: a bearer token from `headers`, refusals as
 * `UNAUTHORIZED`/`FORBIDDEN` with their status, and a live cursor whose token expires while it is
 * connected — the server ends the connection in-band, `onError` hands over a fresh token, and the
 * cursor resumes after the last entry it applied: no gap, no error.
 */
import { expect } from 'vitest'
import { clientTest as test, merge } from './support/count-requests.ts'
import { failure, first } from './support/observe.ts'
import { HS_AUTH, hsToken } from './support/tokens.ts'

test('401 and 403 from the server reach the caller with their codes and status', async ({ serve, connect }) => {
  const server = await serve({ auth: HS_AUTH })
  const admin = connect(server.url, { headers: { authorization: `Bearer ${await hsToken({ scope: 'admin' })}` } }).client
  await admin.stream('tok/a').create()
  const anonymous = connect(server.url).client
  await expect(anonymous.stream('tok/a').stateAt(0)).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401, serverCode: 'UNAUTHORIZED' })
  const reader = connect(server.url, { headers: { authorization: `Bearer ${await hsToken({ scope: 'read:tok/' })}` } }).client
  await expect(reader.stream('tok/a').append(merge({ no: 1 }))).rejects.toMatchObject({ code: 'FORBIDDEN', status: 403 })
  expect(await reader.stream('tok/a').stateAt(Number.MAX_SAFE_INTEGER - 1)).toEqual({})
})

test('a live cursor whose token expires renews it through onError and resumes without loss', async ({ serve, connect }) => {
  const server = await serve({ auth: HS_AUTH, heartbeatMs: 200 })
  const admin = connect(server.url, { headers: { authorization: `Bearer ${await hsToken({ scope: 'admin' })}` } }).client
  await admin.stream('tok/live').create()
  await admin.stream('tok/live').append(merge({ n: 1 }))
  // Tokens that expire in 2 to 3 s (exp has one-second resolution).
  let token = await hsToken({ scope: 'read:tok/', expiresIn: 3 })
  const renewals: string[] = []
  const { client } = connect(server.url, {
    headers: () => ({ authorization: `Bearer ${token}` }),
    onError: async (err) => {
      if (err.code !== 'UNAUTHORIZED') return undefined
      renewals.push(err.status === undefined ? 'in-band' : String(err.status))
      token = await hsToken({ scope: 'read:tok/', expiresIn: 60 })
      return {}
    },
  })
  const stream = client.stream<{ n: number }>('tok/live')
  const seen: number[] = []
  let failed: unknown
  const subscription = stream.live$.subscribe({ next: (s) => seen.push(s.seq), error: (err) => (failed = err) })
  await first(stream.live$, (s) => s.seq === 1)
  // The first token runs out while connected; the server ends the connection in-band.
  await first(stream.status$, (s) => s === 'reconnecting')
  await admin.stream('tok/live').append(merge({ n: 2 }))
  await first(stream.live$, (s) => s.seq === 2)
  subscription.unsubscribe()
  expect(failed).toBeUndefined()
  expect(renewals).toEqual(['in-band'])
  expect(seen).toEqual([1, 2])
  const lives = server.served.requests.filter((line) => line.includes('/v1/live/'))
  // Resumed after what it had, naming the window it holds (the server checks it is the stream's).
  expect(lives).toEqual(['GET /v1/live/tok/live', expect.stringMatching(/^GET \/v1\/live\/tok\/live\?after=1&window=0\.\d+$/)])
})

test('without onError, a live cursor whose token expires reads headers() again and resumes', async ({ serve, connect }) => {
  const server = await serve({ auth: HS_AUTH, heartbeatMs: 200 })
  const admin = connect(server.url, { headers: { authorization: `Bearer ${await hsToken({ scope: 'admin' })}` } }).client
  await admin.stream('tok/fresh').create()
  await admin.stream('tok/fresh').append(merge({ n: 1 }))
  // The application keeps its token fresh on its own; `headers` hands out the current one.
  let token = await hsToken({ scope: 'read:tok/', expiresIn: 3 })
  let reads = 0
  const { client, events } = connect(server.url, {
    headers: async () => {
      reads += 1
      return { authorization: `Bearer ${token}` }
    },
  })
  const stream = client.stream<{ n: number }>('tok/fresh')
  const seen: number[] = []
  let fail: (err: unknown) => void = () => undefined
  const failed = new Promise<never>((_, reject) => (fail = reject))
  const subscription = stream.live$.subscribe({ next: (s) => seen.push(s.seq), error: (err) => fail(err) })
  await first(stream.live$, (s) => s.seq === 1)
  token = await hsToken({ scope: 'read:tok/', expiresIn: 60 })
  // The connection's token runs out; the server ends it in-band. An error instead fails at once.
  await Promise.race([first(stream.status$, (s) => s === 'reconnecting'), failed])
  await admin.stream('tok/fresh').append(merge({ n: 2 }))
  await Promise.race([first(stream.live$, (s) => s.seq === 2), failed])
  subscription.unsubscribe()
  expect(seen).toEqual([1, 2])
  const requests = events.flatMap((event) => (event.type === 'request' ? [event.url] : []))
  // The reconnection resumes at once, naming the window it holds (the server checks it is the stream's).
  expect(requests).toEqual(['/v1/live/tok/fresh', expect.stringMatching(/^\/v1\/live\/tok\/fresh\?after=1&window=0\.\d+$/)])
  expect(reads).toBe(requests.length)
})

test('a live cursor whose expired token is not renewed reconnects once, then errors with the 401', async ({ serve, connect }) => {
  const server = await serve({ auth: HS_AUTH, heartbeatMs: 200 })
  const admin = connect(server.url, { headers: { authorization: `Bearer ${await hsToken({ scope: 'admin' })}` } }).client
  await admin.stream('tok/stale').create()
  await admin.stream('tok/stale').append(merge({ n: 1 }))
  const token = await hsToken({ scope: 'read:tok/', expiresIn: 3 })
  const { client, events } = connect(server.url, { headers: async () => ({ authorization: `Bearer ${token}` }) })
  const stream = client.stream('tok/stale')
  const statuses: string[] = []
  stream.status$.subscribe((status) => statuses.push(status))
  const err = await failure(stream.live$)
  expect(err).toMatchObject({ code: 'UNAUTHORIZED', status: 401 })
  const requests = events.flatMap((event) => (event.type === 'request' ? [event.url] : []))
  // The reconnection, resuming from what it holds, is the request refused.
  expect(requests).toEqual(['/v1/live/tok/stale', expect.stringMatching(/^\/v1\/live\/tok\/stale\?after=1&window=0\.\d+$/)])
  expect(statuses).toEqual(['closed', 'connecting', 'live', 'reconnecting', 'closed'])
})
