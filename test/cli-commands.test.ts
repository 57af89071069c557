/**
 * The `statestream` binary against a real server: every command's answer checked against the
 * server's own routes, the exit codes and one-line errors, and progress output that never mixes
 * into piped data.
 */
import { describe, expect } from 'vitest'
import { runCli } from './support/cli.ts'
import { createStateStream, getJson, liveTest } from './support/live-server.ts'

/** These tests start the binary a few dozen times each: on a busy machine that takes a while. */
const SPAWNS_TIMEOUT = 240_000

const json = (text: string) => text.trim().split('\n').map((line) => JSON.parse(line) as unknown)

describe('statestream commands', () => {
  liveTest('create, append, get, history and inspect agree with the server', async ({ serve }) => {
    const { url } = await serve()
    expect(await runCli(['create', 'w/a', '--snapshot-entries', '2'], { url })).toMatchObject({ code: 0, stdout: 'created w/a\n' })
    expect(await runCli(['create', 'w/a', '--snapshot-entries', '2'], { url })).toMatchObject({ code: 0, stdout: 'exists w/a\n' })

    const args = await runCli(['append', 'w/a', '{"set":{"t":20}}', '{"merge":{"t":21}}'], { url })
    expect(args).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(args.stdout)).toEqual({ appended: 2, seq: 2 })
    const lines = Array.from({ length: 5 }, (_, i) => JSON.stringify({ merge: { t: 22 + i, n: i } })).join('\n')
    const piped = await runCli(['append', 'w/a', '--batch', '2'], { url, stdin: `${lines}\n\n` })
    expect(piped).toMatchObject({ code: 0, stderr: '' })
    expect(JSON.parse(piped.stdout)).toEqual({ appended: 5, seq: 7 })

    const head = await getJson<{ seq: number; ts: number; state: unknown }>(url, '/v1/state/w/a')
    expect(json((await runCli(['get', 'w/a'], { url })).stdout)).toEqual([head.body])
    const third = await getJson(url, '/v1/state/w/a?seq=3')
    expect(json((await runCli(['get', 'w/a', '--seq', '3'], { url })).stdout)).toEqual([third.body])
    expect(json((await runCli(['get', 'w/a', '--seq', '3', '--state'], { url })).stdout)).toEqual([(third.body as { state: unknown }).state])
    const at = head.body.ts
    expect(json((await runCli(['get', 'w/a', '--at', String(at)], { url })).stdout)).toEqual([(await getJson(url, `/v1/state/w/a?at=${at}`)).body])
    expect(json((await runCli(['get', 'w/a', '--at', '2000-01-01T00:00:00Z'], { url })).stdout)).toEqual([{ seq: null, ts: null, state: null }])
    expect((await runCli(['get', 'w/a', '--seq', '99'], { url })).code).toBe(2)

    // history: every state from creation, then (with --entries) every entry, as the windows hold them.
    const history = await runCli(['history', 'w/a', '--from', '2000-01-01T00:00:00Z', '--to', 'now'], { url })
    expect(history).toMatchObject({ code: 0, stderr: '' })
    const states = json(history.stdout) as Array<{ seq: number; state: unknown }>
    expect(states.map((step) => step.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    for (const step of states) expect(step.state).toEqual((await getJson<{ state: unknown }>(url, `/v1/state/w/a?seq=${step.seq}`)).body.state)
    const entries = json((await runCli(['history', 'w/a', '--from', '2000-01-01T00:00:00Z', '--to', 'now', '--entries'], { url })).stdout)
    const windows = await getJson<{ windows: Array<{ start: { seq: number } }> }>(url, '/v1/windows/w/a')
    const held: unknown[] = []
    for (const window of windows.body.windows) {
      const { body } = await getJson<{ entries: unknown[] }>(url, `/v1/window/w/a?seq=${window.start.seq}`)
      held.push(...body.entries)
    }
    expect(entries).toEqual(held)

    const inspect = await runCli(['inspect', 'w/a', '--json'], { url })
    const layout = JSON.parse(inspect.stdout) as { seq: number; kind: string; snapshot: { entries: number }; windows: unknown }
    expect(layout).toMatchObject({ name: 'w/a', kind: 'state', seq: 7, closed: false, snapshot: { entries: 2 } })
    expect(layout.windows).toEqual(windows.body.windows)
    const table = await runCli(['inspect', 'w/a'], { url })
    expect(table.stdout).toContain(`${windows.body.windows.length} windows, 7 entries`)

    // fork: the history up to entry 3 (or up to a time) is the source's; then it diverges.
    expect(await runCli(['fork', 'w/a', 'w/fork', '--seq', '3'], { url })).toMatchObject({ code: 0, stdout: 'forked w/fork from w/a at seq 3\n' })
    expect((await getJson(url, '/v1/state/w/fork')).body).toEqual(third.body)
    expect((await runCli(['append', 'w/fork', '{"merge":{"branch":true}}'], { url })).code).toBe(0)
    expect((await getJson<{ seq: number; state: unknown }>(url, '/v1/state/w/fork')).body).toMatchObject({ seq: 4, state: { branch: true } })
    expect((await getJson(url, '/v1/state/w/a')).body).toEqual(head.body)
    const byTime = await runCli(['fork', 'w/a', 'w/fork-t', '--at', String(at)], { url })
    expect(byTime).toMatchObject({ code: 0, stdout: `forked w/fork-t from w/a at seq ${head.body.seq}\n` })
    expect((await runCli(['fork', 'w/a', 'w/fork-x'], { url })).code).toBe(2)
    expect((await runCli(['fork', 'no/such', 'w/fork-y', '--seq', '1'], { url })).code).toBe(3)
  }, SPAWNS_TIMEOUT)

  liveTest('ls lists the streams in name order, by prefix, across pages', async ({ serve }) => {
    const { url } = await serve()
    const names = Array.from({ length: 120 }, (_, i) => `ls/s${String(i).padStart(3, '0')}`)
    for (const name of [...names, 'other/x']) await createStateStream(url, name)
    expect((await runCli(['append', 'ls/s007', '{"set":{"a":1}}'], { url })).code).toBe(0)
    // 121 streams: more than one page of the server's list (100 by default).
    const all = await runCli(['ls', '--json'], { url })
    expect(all).toMatchObject({ code: 0, stderr: '' })
    const listed = json(all.stdout) as Array<{ name: string; kind: string; seq: number; entries: number }>
    expect(listed.map((stream) => stream.name)).toEqual([...names, 'other/x'])
    expect(listed[7]).toMatchObject({ name: 'ls/s007', kind: 'state', seq: 1, entries: 1 })
    const some = json((await runCli(['ls', 'ls/s01', '--json'], { url })).stdout) as Array<{ name: string }>
    expect(some.map((stream) => stream.name)).toEqual(names.slice(10, 20))
    expect(json((await runCli(['ls', '--json', '--limit', '3'], { url })).stdout)).toHaveLength(3)
    const table = await runCli(['ls', 'other/'], { url })
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+KIND\s+SEQ\s+ENTRIES\s+BYTES\s+LAST$/)
    expect(table.stdout).toMatch(/^other\/x\s+state\s+0\s+0\s+0\s+-$/m)
  }, SPAWNS_TIMEOUT)

  liveTest('errors are one line with a code, and each kind has its exit code', async ({ serve }) => {
    const { url } = await serve()
    const cases: Array<[string[], number, string]> = [
      [['get', 'no/such'], 3, 'statestream: STREAM_NOT_FOUND: '],
      [['get', 'w/a', '--at', 'yesterday'], 2, "statestream: USAGE: option '--at <time>' argument 'yesterday' is invalid. "],
      [['get', 'bad//name'], 2, 'statestream: INVALID_STREAM_NAME: '],
      [['append', 'w/b', '{"merge":'], 2, 'statestream: USAGE: argument 1 is not JSON'],
      [['append', 'w/b', '[1]'], 2, 'statestream: USAGE: argument 1 must be a JSON object'],
      [['append', 'w/b', '{"patch":[{"op":"remove","path":"/nope"}]}'], 4, 'statestream: MUTATION_FAILED: '],
      [['append', 'w/b', '{"hello":1}'], 2, 'statestream: INVALID_MUTATION: '],
      [['create', 'w/b', '--snapshot-entries', '0'], 2, "statestream: USAGE: option '--snapshot-entries <n>' argument '0' is invalid. "],
      [['frobnicate'], 2, "statestream: USAGE: unknown command 'frobnicate'"],
      [['get', 'w/a', '--bogus'], 2, "statestream: USAGE: unknown option '--bogus'"],
      [['get'], 2, "statestream: USAGE: missing required argument 'name'"],
      [['history', 'w/b'], 2, "statestream: USAGE: required option '--from <time>' not specified"],
    ]
    expect((await runCli(['create', 'w/b'], { url })).code).toBe(0)
    for (const [args, code, start] of cases) {
      const result = await runCli(args, { url })
      expect({ args, code: result.code }).toEqual({ args, code })
      expect(result.stderr.startsWith(start), `${args.join(' ')}: ${result.stderr}`).toBe(true)
      // One line, the parser's complaints included (no second line with a hint).
      expect(result.stderr.split('\n'), `${args.join(' ')}: ${result.stderr}`).toHaveLength(2)
      // No stack trace: no "    at fn (file:line:col)" frame anywhere.
      expect(result.stderr).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m)
    }
    // Nothing of the refused appends was stored.
    expect((await getJson<{ seq: number }>(url, '/v1/state/w/b')).body.seq).toBe(0)

    // Nothing listens on a port just closed.
    const gone = await serve()
    await gone.app.close()
    const unreachable = await runCli(['get', 'w/a'], { url: gone.url })
    expect(unreachable.code).toBe(6)
    expect(unreachable.stderr).toMatch(/^statestream: NETWORK: .*ECONNREFUSED/)
    expect((await runCli(['get', 'w/a'], { url: 'ftp://x' })).code).toBe(2)
    // A bad URL is named by where it came from.
    expect(await runCli(['ls'], { env: { STATESTREAM_URL: 'bogus' } })).toMatchObject({ code: 2, stderr: 'statestream: USAGE: STATESTREAM_URL "bogus" is not a URL\n' })
    expect(await runCli(['ls'], { url: 'bogus' })).toMatchObject({ code: 2, stderr: 'statestream: USAGE: --url "bogus" is not a URL\n' })
  }, SPAWNS_TIMEOUT)

  liveTest('every command has --help; the environment names the server', async ({ serve }) => {
    const { url } = await serve()
    for (const command of ['ls', 'create', 'fork', 'inspect', 'append', 'get', 'history', 'tail', 'export', 'import']) {
      const help = await runCli([command, '--help'])
      expect({ command, code: help.code }).toEqual({ command, code: 0 })
      expect(help.stdout).toContain(`Usage: statestream ${command}`)
    }
    const top = await runCli(['--help'])
    expect(top.stdout).toContain('Exit codes:')
    expect((await runCli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/)
    expect((await runCli(['create', 'env/a'], { env: { STATESTREAM_URL: url } })).code).toBe(0)
    expect((await getJson(url, '/v1/state/env/a')).status).toBe(200)
  }, SPAWNS_TIMEOUT)
})
