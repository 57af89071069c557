/**
 * `statestream export` and `import`: a round trip into an empty server gives the same streams —
 * the same windows, the same state at every entry and time, the same policy and closed flag, and
 * an export of the copy that is byte for byte the original export. Import is idempotent, resumes
 * after Ctrl-C or a kill, and refuses a target with another history.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect } from 'vitest'
import { runCli, startCli } from './support/cli.ts'
import { append, getJson, liveTest } from './support/live-server.ts'

/** These tests start the binary a dozen times each and move tens of thousands of entries: on a busy machine that takes a while. */
const SPAWNS_TIMEOUT = 240_000

const dir = mkdtempSync(join(tmpdir(), 'statestream-export-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Creates a state stream with a snapshot policy, optionally with a creation time. */
async function create(url: string, name: string, policy: Record<string, number>): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'stream-kind': 'state' }
  for (const [key, value] of Object.entries(policy)) headers[`stream-snapshot-${key}`] = String(value)
  const response = await request(`${url}/v1/stream/${name}`, { method: 'PUT', headers })
  await response.body.dump()
  expect(response.statusCode).toBe(201)
}

/** Closes a stream (Stream-Closed: true on an empty append). */
async function close(url: string, name: string): Promise<void> {
  const response = await request(`${url}/v1/stream/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', 'stream-closed': 'true' } })
  await response.body.dump()
  expect(response.statusCode).toBeLessThan(300)
}

/** Three streams of different shapes: by-entries, by-bytes and by-time snapshots, shared and equal ts, one closed. */
async function seed(url: string, base: number): Promise<void> {
  await create(url, 'w/entries', { entries: 7 })
  await create(url, 'w/bytes', { bytes: 300 })
  await create(url, 'x/time', { ms: 5000, entries: 100_000 })
  const readings = (n: number, step: number) =>
    Array.from({ length: n }, (_, i) => ({ merge: { t: i % 17, note: i % 5 === 0 ? `r${i}` : null }, ts: base + Math.floor(i / 3) * step }))
  await append(url, 'w/entries', JSON.stringify(readings(60, 250)))
  await append(url, 'w/bytes', JSON.stringify([{ set: { list: [] } }, ...Array.from({ length: 40 }, (_, i) => ({ patch: [{ op: 'add', path: '/list/-', value: { i, "k'ey/~": i * 1.5 } }], ts: base + i * 100 }))]))
  await append(url, 'x/time', JSON.stringify(readings(90, 700)))
  await close(url, 'x/time')
}

/** Everything a reader can see of a stream: HEAD, its windows, and its state at every entry's seq and ts. */
async function observe(url: string, name: string): Promise<unknown> {
  const head = await request(`${url}/v1/stream/${name}`, { method: 'HEAD' })
  await head.body.dump()
  const keep = ['stream-next-offset', 'stream-kind', 'stream-snapshot-entries', 'stream-snapshot-bytes', 'stream-snapshot-ms', 'stream-closed']
  const headers = Object.fromEntries(keep.map((key) => [key, head.headers[key]]))
  const windows = (await getJson<{ windows: Array<{ start: { seq: number } }> }>(url, `/v1/windows/${name}`)).body
  const states: unknown[] = []
  for (const window of windows.windows) {
    const { body } = await getJson<{ start: unknown; entries: Array<{ seq: number; ts: number }>; end: unknown }>(url, `/v1/window/${name}?seq=${window.start.seq}`)
    states.push(body.start, body.end)
    for (const entry of body.entries) {
      states.push(entry, (await getJson(url, `/v1/state/${name}?seq=${entry.seq}`)).body, (await getJson(url, `/v1/state/${name}?at=${entry.ts}`)).body)
    }
  }
  return { headers, windows, states }
}

describe('statestream export and import', () => {
  liveTest('a round trip into an empty server gives the same streams, and the same export', async ({ serve }) => {
    const base = Date.now() + 60_000
    const source = await serve()
    const target = await serve()
    await seed(source.url, base)
    const file = join(dir, 'all.ndjson')
    const exported = await runCli(['export', 'w/bytes', 'w/entries', 'x/time', '-o', file], { url: source.url })
    expect(exported).toMatchObject({ code: 0, stdout: '', stderr: '' })

    const imported = await runCli(['import', file], { url: target.url })
    expect(imported).toMatchObject({ code: 0, stderr: '' })
    expect(imported.stdout).toContain('imported w/entries: 60 entries appended, 0 already there, seq 60')
    expect(imported.stdout).toContain('imported x/time: 90 entries appended, 0 already there, seq 90, closed')
    for (const name of ['w/entries', 'w/bytes', 'x/time']) expect(await observe(target.url, name)).toEqual(await observe(source.url, name))

    // The copy exports to the very same bytes; to stdout too.
    const again = await runCli(['export', 'w/bytes', 'w/entries', 'x/time'], { url: target.url })
    expect(again.code).toBe(0)
    expect(again.stdout).toBe(readFileSync(file, 'utf8'))

    // --all: every stream, the same file.
    const everything = await runCli(['export', '--all'], { url: source.url })
    expect(everything).toMatchObject({ code: 0, stderr: '' })
    expect(everything.stdout).toBe(readFileSync(file, 'utf8'))
    const prefixed = await runCli(['export', '--all', '--prefix', 'w/'], { url: source.url })
    expect(prefixed.stdout.split('\n').filter((line) => line.startsWith('{"stream":')).map((line) => JSON.parse(line).stream)).toEqual(['w/bytes', 'w/entries'])

    // Importing again changes nothing: every entry is already there.
    const twice = await runCli(['import', file], { url: target.url })
    expect(twice.code).toBe(0)
    expect(twice.stdout).toContain('imported w/bytes: 0 entries appended, 41 already there, seq 41')
    expect(await observe(target.url, 'w/bytes')).toEqual(await observe(source.url, 'w/bytes'))
  }, SPAWNS_TIMEOUT)

  liveTest('an import stopped by Ctrl-C, or killed, resumes where the target stands', async ({ serve }) => {
    const source = await serve()
    await create(source.url, 'big/a', { entries: 500 })
    const base = Date.now() + 60_000
    for (let batch = 0; batch < 10; batch++) {
      const messages = Array.from({ length: 3000 }, (_, i) => ({ merge: { n: batch * 3000 + i }, ts: base + batch * 3000 + i }))
      await append(source.url, 'big/a', JSON.stringify(messages))
    }
    const file = join(dir, 'big.ndjson')
    expect((await runCli(['export', 'big/a', '-o', file], { url: source.url })).code).toBe(0)

    for (const signal of ['SIGINT', 'SIGKILL'] as const) {
      const target = await serve()
      const run = startCli(['import', file, '--batch', '20'], { url: target.url })
      // Stop it once some, not all, of the entries are in.
      await expect.poll(() => headSeq(target.url, 'big/a'), { timeout: 60_000, interval: 20 }).toBeGreaterThan(600)
      run.child.kill(signal)
      const stopped = await run.exited
      const partial = await headSeq(target.url, 'big/a')
      expect(partial).toBeLessThan(30_000)
      if (signal === 'SIGINT') {
        expect(stopped.code).toBe(130)
        expect(stopped.stderr).toContain('run the same import again to resume')
      }
      const resumed = await runCli(['import', file], { url: target.url })
      expect(resumed).toMatchObject({ code: 0, stderr: '' })
      expect(resumed.stdout).toMatch(new RegExp(`imported big/a: ${30_000 - partial} entries appended, ${partial} already there, seq 30000`))
      const copy = await runCli(['export', 'big/a'], { url: target.url })
      expect(copy.stdout).toBe(readFileSync(file, 'utf8'))
    }
  }, SPAWNS_TIMEOUT)

  liveTest('an import refuses a target with another history, and a file that is not an export', async ({ serve }) => {
    const source = await serve()
    const target = await serve()
    const base = Date.now() + 60_000
    await create(source.url, 'w/a', { entries: 10 })
    await append(source.url, 'w/a', JSON.stringify([{ set: { v: 1 }, ts: base }, { merge: { v: 2 }, ts: base + 1 }]))
    const file = join(dir, 'one.ndjson')
    expect((await runCli(['export', 'w/a', '-o', file], { url: source.url })).code).toBe(0)
    expect((await runCli(['import', file], { url: target.url })).code).toBe(0)
    // Same name, same policy, another entry 3 on the source: the first import's copy is behind and diverges.
    await append(source.url, 'w/a', JSON.stringify([{ merge: { v: 3 }, ts: base + 2 }]))
    await append(target.url, 'w/a', JSON.stringify([{ merge: { v: 'other' } }]))
    expect((await runCli(['export', 'w/a', '-o', file], { url: source.url })).code).toBe(0)
    const diverged = await runCli(['import', file], { url: target.url })
    expect(diverged.code).toBe(4)
    expect(diverged.stderr).toMatch(/^statestream: STREAM_CONFLICT: "w\/a" on the server has another entry 3/)

    const lines = readFileSync(file, 'utf8').split('\n')
    const cut = join(dir, 'cut.ndjson')
    writeFileSync(cut, `${lines.slice(0, 3).join('\n')}\n`)
    const fresh = await serve()
    const truncated = await runCli(['import', cut], { url: fresh.url })
    expect(truncated.code).toBe(2)
    expect(truncated.stderr).toMatch(/^statestream: TRUNCATED: .* ends inside stream "w\/a"/)
    const junk = join(dir, 'junk.ndjson')
    writeFileSync(junk, '{"hello":"world"}\n')
    const refused = await runCli(['import', junk], { url: fresh.url })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/^statestream: INVALID_EXPORT: .* line 1: not a line of a statestream export\n$/)
    expect((await runCli(['import', join(dir, 'missing.ndjson')], { url: fresh.url })).code).toBe(2)
  }, SPAWNS_TIMEOUT)

  liveTest('a file cut short imports every entry it holds; a failed import names the streams it finished', async ({ serve }) => {
    const source = await serve()
    const base = Date.now() + 60_000
    for (const name of ['t/a', 't/b']) {
      await create(source.url, name, { entries: 10 })
      await append(source.url, name, JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ merge: { n: i }, ts: base + i }))))
    }
    const file = join(dir, 'two.ndjson')
    expect((await runCli(['export', 't/a', 't/b', '-o', file], { url: source.url })).code).toBe(0)
    const lines = readFileSync(file, 'utf8').split('\n')

    // Cut after entry 45 of t/a (a partial batch of 20), then inside the line of entry 46.
    const cuts: Array<[string, string, RegExp]> = [
      ['cut-after.ndjson', `${lines.slice(0, 47).join('\n')}\n`, /ends inside stream "t\/a"/],
      ['cut-inside.ndjson', `${lines.slice(0, 47).join('\n')}\n${lines[47]?.slice(0, 10)}`, /line 48 is cut short/],
    ]
    for (const [name, text, says] of cuts) {
      const target = await serve()
      const cut = join(dir, name)
      writeFileSync(cut, text)
      const truncated = await runCli(['import', cut, '--batch', '20'], { url: target.url })
      expect({ name, code: truncated.code }).toEqual({ name, code: 2 })
      expect(truncated.stderr).toMatch(says)
      expect(await headSeq(target.url, 't/a')).toBe(45)
    }

    // t/b is another history on the target: the import fails there, after saying t/a is done.
    const target = await serve()
    await create(target.url, 't/b', { entries: 10 })
    await append(target.url, 't/b', JSON.stringify([{ set: { other: true } }]))
    const failed = await runCli(['import', file], { url: target.url })
    expect(failed.code).toBe(4)
    expect(failed.stdout).toBe('imported t/a: 50 entries appended, 0 already there, seq 50\n')
    expect(failed.stderr).toMatch(/^statestream: STREAM_CONFLICT: "t\/b" on the server /)
  }, SPAWNS_TIMEOUT)

  liveTest('-o a path that cannot be written is refused in one line, with nothing exported', async ({ serve }) => {
    const { url } = await serve()
    await create(url, 'w/a', { entries: 10 })
    const cases: Array<[string, RegExp]> = [
      [join(dir, 'no', 'such', 'x.ndjson'), /^statestream: ENOENT: -o .*x\.ndjson: cannot create .*x\.ndjson\.partial: no such file or directory\n$/],
      ['/proc/x.ndjson', /^statestream: E[A-Z]+: -o \/proc\/x\.ndjson: cannot create \/proc\/x\.ndjson\.partial: [^,]+\n$/],
      [dir, /^statestream: USAGE: -o .* is a directory: give the file to write\n$/],
    ]
    for (const [path, stderr] of cases) {
      const refused = await runCli(['export', 'w/a', '-o', path], { url })
      expect({ path, code: refused.code, stdout: refused.stdout }).toEqual({ path, code: 2, stdout: '' })
      expect(refused.stderr).toMatch(stderr)
    }
  }, SPAWNS_TIMEOUT)
})

async function headSeq(url: string, name: string): Promise<number> {
  const response = await request(`${url}/v1/stream/${name}`, { method: 'HEAD' })
  await response.body.dump()
  if (response.statusCode === 404) return 0
  return Number(response.headers['stream-next-offset'])
}
