/**
 * `history()` over any number of windows: listings come in pages (the server caps each), and
 * windows a page leaves out (several snapshots in one millisecond) are walked by seq. Against a
 * stand-in server whose listing holds at most 3 windows, every seq comes once, in order.
 */
import { expect, test } from 'vitest'
import { windowIndexAt } from '@statestream/common'
import { StateStreamClient } from '../src/index.ts'
import type { FetchLike } from '../src/index.ts'
import { FakeHistory } from './support/fake-history.ts'

/** The server's listing and window routes over `server`, a listing holding at most `cap` windows. */
function serving(server: FakeHistory, cap: number, requests: string[]): FetchLike {
  return async (input) => {
    const url = new URL(input)
    requests.push(`${url.pathname}${url.search}`)
    const q = url.searchParams
    let body: unknown
    if (url.pathname.startsWith('/v1/windows/')) {
      const from = Number(q.get('from'))
      const to = Number(q.get('to'))
      const first = Math.max(0, windowIndexAt(server.snapshots, from))
      const listed = server.snapshots.slice(first).filter((s) => s.ts <= to).slice(0, cap)
      body = { windows: listed.map((s) => ({ ...server.spanOf(s.seq), entries: 0, bytes: 0 })) }
    } else {
      const point = q.has('seq') ? { seq: Number(q.get('seq')) } : { at: Number(q.get('at')) }
      const after = q.has('after') ? Number(q.get('after')) : undefined
      body = (await server.fetch(point, after, () => undefined)).data
    }
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
  }
}

async function steps(client: StateStreamClient, name: string): Promise<number[]> {
  const seqs: number[] = []
  await new Promise<void>((resolve, reject) =>
    client.stream(name).history({ from: 0, to: Number.MAX_SAFE_INTEGER }).subscribe({ next: (s) => void seqs.push(s.seq), error: reject, complete: resolve }),
  )
  return seqs
}

test('a history runs on past a listing cut at its cap, page after page', async () => {
  const server = new FakeHistory(1_000)
  for (let i = 1; i <= 40; i++) server.append({ merge: { i } }, 10, true)
  const requests: string[] = []
  const client = new StateStreamClient({ baseUrl: 'http://history.test', fetch: serving(server, 3, requests) })
  expect(await steps(client, server.name)).toEqual(Array.from({ length: 41 }, (_, i) => i))
  // 41 windows, 3 a page: the listing was read in 14 pages (each page after the first starts at the window the one before ended with).
  expect(requests.filter((line) => line.startsWith('/v1/windows/')).length).toBeGreaterThanOrEqual(14)
  await client.close()
})

test('windows a page leaves out (snapshots sharing a millisecond) are walked by seq, none skipped', async () => {
  const server = new FakeHistory(1_000)
  // One-entry windows, four of them in each millisecond.
  for (let i = 1; i <= 24; i++) server.append({ merge: { i } }, i % 4 === 1 ? 10 : 0, true)
  const requests: string[] = []
  const client = new StateStreamClient({ baseUrl: 'http://history.test', fetch: serving(server, 3, requests) })
  expect(await steps(client, server.name)).toEqual(Array.from({ length: 25 }, (_, i) => i))
  // Nothing was fetched twice.
  for (const [seq, count] of server.served) expect({ seq, count }).toEqual({ seq, count: 1 })
  await client.close()
})
