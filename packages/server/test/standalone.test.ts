/**
 * The standalone server, `statestream-server`: starts on a database file, serves over real HTTP,
 * shuts down cleanly on SIGTERM (exit code 0), and a second start on the same file serves the
 * same history.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'
import { start, stop } from './bin.ts'
import type { Running } from './bin.ts'
import { test } from './support.ts'

test('serves over HTTP, exits 0 on SIGTERM, and a restart on the same file serves the same state', async ({ tmp }) => {
  const db = join(tmp, 'standalone.db')
  const first = await start(['--db', db, '--log-level', 'info'])
  let running: Running | undefined = first
  try {
    const url = (path: string) => `${first.baseUrl}${path}`
    const created = await fetch(url('/v1/stream/weather/station-1'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'stream-kind': 'state', 'stream-snapshot-entries': '2' },
    })
    expect(created.status).toBe(201)
    for (const body of [{ set: { t: 20 } }, [{ merge: { t: 21 } }, { merge: { h: 40 } }], { merge: { t: 22.5 } }]) {
      const res = await fetch(url('/v1/stream/weather/station-1'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      expect(res.status).toBe(204)
    }
    const state = await (await fetch(url('/v1/state/weather/station-1'))).json()
    expect(state).toMatchObject({ seq: 4, state: { t: 22.5, h: 40 } })
    const log = await (await fetch(url('/v1/stream/weather/station-1?offset=-1'))).text()
    const windows = await (await fetch(url('/v1/windows/weather/station-1'))).text()

    expect(existsSync(`${db}-wal`)).toBe(true)
    running = undefined
    expect(await stop(first)).toBe(0)
    // A clean close checkpoints the WAL into the database file and removes it.
    expect(existsSync(`${db}-wal`)).toBe(false)
    expect(first.logs.join('\n')).toContain('shutting down')

    const second = await start(['--db', db])
    running = second
    const again = (path: string) => fetch(`${second.baseUrl}${path}`)
    expect(await (await again('/v1/state/weather/station-1')).json()).toEqual(state)
    expect(await (await again('/v1/stream/weather/station-1?offset=-1')).text()).toBe(log)
    expect(await (await again('/v1/windows/weather/station-1')).text()).toBe(windows)
    expect((await again('/health')).status).toBe(200)
    running = undefined
    expect(await stop(second)).toBe(0)
  } finally {
    if (running !== undefined) await stop(running)
  }
})
