/**
 * `statestream tail` as a person runs it: the current state, then each change as it happens, on
 * one stream or several; NDJSON with --json; across a server restart without a gap or a repeat;
 * and Ctrl-C ends it cleanly.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '@statestream/server'
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici'
import { describe, expect } from 'vitest'
import { runCli, startCli } from './support/cli.ts'
import { append, createStateStream, liveTest } from './support/live-server.ts'

describe('statestream tail', () => {
  liveTest('shows the current state, then each change, for several streams; --json is NDJSON', async ({ serve }) => {
    const { url } = await serve()
    await createStateStream(url, 'w/a')
    await createStateStream(url, 'w/b')
    await append(url, 'w/a', '{"set":{"t":20,"gust":4}}')
    await append(url, 'w/b', '{"set":{"t":5}}')

    const human = startCli(['tail', 'w/a', 'w/b'], { url })
    const json = startCli(['tail', '--json', 'w/a'], { url })
    await human.lines(2)
    await json.lines(1)
    await append(url, 'w/a', '[{"merge":{"t":21,"gust":null,"rain":0}}]')
    await append(url, 'w/b', '{"patch":[{"op":"replace","path":"/t","value":6}]}')
    const lines = await human.lines(4)
    expect(lines[0]).toMatch(/ {2}w\/a {2}#1 {2}= \{"t":20,"gust":4\}$/)
    expect(lines[1]).toMatch(/ {2}w\/b {2}#1 {2}= \{"t":5\}$/)
    expect(lines[2]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}w\/a {2}#2 {2}-gust {2}t: 20 → 21 {2}\+rain: 0$/)
    expect(lines[3]).toMatch(/ {2}w\/b {2}#2 {2}t: 5 → 6$/)
    const records = (await json.lines(2)).map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(records[0]).toMatchObject({ stream: 'w/a', seq: 1, state: { t: 20, gust: 4 } })
    expect(records[1]).toMatchObject({ stream: 'w/a', seq: 2, m: { merge: { t: 21, gust: null, rain: 0 } } })

    // Ctrl-C: a clean stop, exit 130, nothing on stderr but the output it had.
    const ended = await human.interrupt()
    expect(ended.code).toBe(130)
    expect(ended.stderr).toBe('')
    expect((await json.interrupt()).code).toBe(130)
  })

  liveTest('a missing stream ends the tail with its error', async ({ serve }) => {
    const { url } = await serve()
    const result = await runCli(['tail', 'no/such'], { url })
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/^statestream: STREAM_NOT_FOUND: /)
  })

  liveTest('resumes after the server restarts: every entry once, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'statestream-tail-'))
    const file = join(dir, 'streams.db')
    let app = await buildApp({ file })
    try {
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      const port = Number(new URL(url).port)
      await createStateStream(url, 'w/r', 3)
      await append(url, 'w/r', '{"set":{"n":1}}')
      const tail = startCli(['tail', '--json', 'w/r'], { url })
      await tail.lines(1)
      await append(url, 'w/r', '{"merge":{"n":2}}')
      await tail.lines(2)

      await app.close()
      // This test's own requests start afresh too: a kept-alive socket to the old server may not
      // have seen its close yet, and a request sent on it fails with "other side closed".
      const stale = getGlobalDispatcher()
      setGlobalDispatcher(new Agent())
      await stale.close()
      app = await buildApp({ file })
      await app.listen({ port, host: '127.0.0.1' })
      // Written while the tail is reconnecting, and after: both must arrive, once each.
      await append(url, 'w/r', '[{"merge":{"n":3}},{"merge":{"n":4}}]')
      await tail.lines(4)
      await append(url, 'w/r', '{"merge":{"n":5}}')
      const lines = (await tail.lines(5)).map((line) => JSON.parse(line) as { seq: number; m?: unknown })
      expect(lines.map((line) => line.seq)).toEqual([1, 2, 3, 4, 5])
      expect(lines[4]?.m).toEqual({ merge: { n: 5 } })
      expect((await tail.interrupt()).code).toBe(130)
    } finally {
      await app.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
