/**
 * `statestream append <name>` with NDJSON on stdin: however it ends (end of input, a bad line, a
 * refused batch, Ctrl-C), stdout says what was stored, `{ appended, seq }`, so a user knows where
 * to carry on; and a slow writer's lines are stored as they come, not when a batch fills.
 */
import { describe, expect } from 'vitest'
import { runCli, startCli } from './support/cli.ts'
import { createStateStream, getJson, liveTest } from './support/live-server.ts'

/** These tests start the binary several times each: on a busy machine that takes a while. */
const SPAWNS_TIMEOUT = 120_000

const readings = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => JSON.stringify({ merge: { n: from + i } }))
const seqOf = async (url: string, name: string) => (await getJson<{ seq: number }>(url, `/v1/state/${name}`)).body.seq

describe('statestream append from stdin', () => {
  liveTest('a bad line stores the lines before it, says so, and the rest appends from there', async ({ serve }) => {
    const { url } = await serve()
    await createStateStream(url, 'ap/bad')
    const lines = [...readings(1, 1500), '{"merge":{"n":', ...readings(1502, 2000)]
    const bad = await runCli(['append', 'ap/bad'], { url, stdin: `${lines.join('\n')}\n` })
    expect(bad.code).toBe(2)
    expect(JSON.parse(bad.stdout)).toEqual({ appended: 1500, seq: 1500 })
    expect(bad.stderr).toMatch(
      /^statestream: USAGE: stdin line 1501 is not JSON: .* \(the lines before it are appended: 1500 messages, up to seq 1500; nothing from line 1501 on\)\n$/,
    )
    expect(await seqOf(url, 'ap/bad')).toBe(1500)

    // The corrected lines from 1501 on complete the stream, none of them twice.
    const rest = await runCli(['append', 'ap/bad'], { url, stdin: `${readings(1501, 2000).join('\n')}\n` })
    expect(rest).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(rest.stdout)).toEqual({ appended: 500, seq: 2000 })
    expect((await getJson<{ state: unknown }>(url, '/v1/state/ap/bad')).body.state).toEqual({ n: 2000 })
  }, SPAWNS_TIMEOUT)

  liveTest('a refused batch names what the batches before it stored', async ({ serve }) => {
    const { url } = await serve()
    await createStateStream(url, 'ap/refused')
    const lines = [...readings(1, 2), '{"merge":{"n":3}}', '{"patch":[{"op":"remove","path":"/nope"}]}']
    const refused = await runCli(['append', 'ap/refused', '--batch', '2'], { url, stdin: `${lines.join('\n')}\n` })
    expect(refused.code).toBe(4)
    expect(JSON.parse(refused.stdout)).toEqual({ appended: 2, seq: 2 })
    expect(refused.stderr).toMatch(/^statestream: MUTATION_FAILED: lines 3-4: .* \(the lines before them are appended: 2 messages, up to seq 2\)\n$/)
    expect(await seqOf(url, 'ap/refused')).toBe(2)

    const none = await runCli(['append', 'ap/refused'], { url, stdin: '' })
    expect(none).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(none.stdout)).toEqual({ appended: 0, seq: null })
  }, SPAWNS_TIMEOUT)

  liveTest("a slow writer's lines are stored as they come; Ctrl-C then reports them", async ({ serve }) => {
    const { url } = await serve()
    await createStateStream(url, 'ap/slow')
    // stdin stays open: the command waits for more, far from a full batch.
    const run = startCli(['append', 'ap/slow'], { url })
    run.child.stdin?.write(`${readings(1, 1)[0]}\n`)
    await expect.poll(() => seqOf(url, 'ap/slow'), { timeout: 20_000, interval: 50 }).toBe(1)
    run.child.stdin?.write(`${readings(2, 3).join('\n')}\n`)
    await expect.poll(() => seqOf(url, 'ap/slow'), { timeout: 20_000, interval: 50 }).toBe(3)
    const stopped = await run.interrupt()
    expect(stopped).toMatchObject({ code: 130, stderr: '' })
    expect(JSON.parse(stopped.stdout)).toEqual({ appended: 3, seq: 3 })
  }, SPAWNS_TIMEOUT)
})
