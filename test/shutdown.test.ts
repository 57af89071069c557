/**
 * Closing a server (SIGTERM, a deploy) while writes are under way: every request the server took
 * is answered before its connection closes, so what is stored is exactly what was acknowledged.
 * A connection cut under a request would leave a write stored and its writer told nothing, and
 * told to retry elsewhere: stored twice. Live readers are ended in-band, and the close completes
 * without waiting for kept-alive connections to time out.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '@statestream/server'
import { Pool } from 'undici'
import { expect } from 'vitest'
import { serveCounted } from './support/count-requests.ts'
import { engineTest as test } from './support/engine-test.ts'
import type { Gate } from './support/count-requests.ts'
import { SseReader } from './support/sse.ts'

const WRITES = 8

test('writes under way when the server closes are answered, and stored exactly as answered; live readers are told', async ({ onEngine }) => {
  const file = join(mkdtempSync(join(tmpdir(), 'statestream-shutdown-')), 'db.sqlite')
  let held = 0
  let release: () => void = () => undefined
  const released = new Promise<void>((resolve) => (release = resolve))
  // Appends are held once the server has them, until the close has begun.
  const gate: Gate = async (request) => {
    if (request.method !== 'POST') return undefined
    held += 1
    await released
    return undefined
  }
  // On PostgreSQL the file names the schema, so the store can be opened again below.
  const server = await serveCounted(onEngine({ file }), gate)
  const created = await fetch(`${server.url}/v1/stream/closing/w`, { method: 'PUT', headers: { 'content-type': 'application/json', 'stream-kind': 'state' } })
  expect(created.status).toBe(201)
  const reader = await SseReader.open(`${server.url}/v1/live/closing/w`)
  await reader.waitFor((event) => event.event === 'window')

  const pool = new Pool(server.url, { connections: WRITES })
  const writes = Array.from({ length: WRITES }, (_, i) =>
    pool
      .request({ method: 'POST', path: '/v1/stream/closing/w', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ merge: { [`w${i}`]: i } }) })
      .then(
        async (answer) => {
          await answer.body.dump()
          return answer.statusCode
        },
        (err: unknown) => (err as { code?: string }).code ?? 'error',
      ),
  )
  while (held < WRITES) await new Promise((resolve) => setTimeout(resolve, 5))
  const closing = server.app.close()
  release()
  const outcomes = await Promise.all(writes)
  await closing
  await pool.close()

  // Every write the server took was answered: none was cut.
  expect(outcomes).toEqual(Array.from({ length: WRITES }, () => 204))
  // The live reader was told why its response ended.
  const error = await reader.waitFor((event) => event.event === 'error')
  expect(JSON.parse(error.data).error.code).toBe('SHUTTING_DOWN')
  // What is stored is what was acknowledged: all of it, once.
  const again = await buildApp({ ...onEngine({ file }), inspector: false })
  try {
    const state = (await again.inject({ url: '/v1/state/closing/w' })).json<{ seq: number; state: Record<string, number> }>()
    expect(state.seq).toBe(WRITES)
    expect(Object.keys(state.state).sort()).toEqual(Array.from({ length: WRITES }, (_, i) => `w${i}`).sort())
  } finally {
    await again.close()
  }
})
