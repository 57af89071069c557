/**
 * `statestream export --all` and `import` over every kind of stream a server holds: state streams
 * (with a TTL, an expiry time, closed, empty, a content type with a charset), forks (of state and bytes streams, one whose source
 * is deleted), JSON streams and bytes streams of any content type. A round trip into an empty
 * server gives the same HEAD, the same bytes and the same history for every one; a closed stream
 * comes back closed only once complete, and an import resumes and repeats on a closed target.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect } from 'vitest'
import { runCli } from './support/cli.ts'
import { append, createPlainStream, deleteStream, getJson, liveTest } from './support/live-server.ts'
import { headOf, logOf, statesOf, viewOf } from './support/stream-view.ts'

/** These tests start the binary several times each: on a busy machine that takes a while. */
const SPAWNS_TIMEOUT = 240_000

const dir = mkdtempSync(join(tmpdir(), 'statestream-export-kinds-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function put(url: string, name: string, headers: Record<string, string>, body?: string | Buffer): Promise<void> {
  const response = await request(`${url}/v1/stream/${name}`, { method: 'PUT', headers, ...(body !== undefined && { body }) })
  const text = await response.body.text()
  if (response.statusCode !== 201) throw new Error(`PUT ${name}: ${response.statusCode} ${text}`)
}

async function post(url: string, name: string, headers: Record<string, string>, body?: string | Buffer): Promise<void> {
  const response = await request(`${url}/v1/stream/${name}`, { method: 'POST', headers, ...(body !== undefined && { body }) })
  const text = await response.body.text()
  if (response.statusCode >= 300) throw new Error(`POST ${name}: ${response.statusCode} ${text}`)
}

const STATE = { 'content-type': 'application/json', 'stream-kind': 'state' }
const BYTES = 'application/octet-stream'

/** One stream of every kind and shape. Returns the names a copy must reproduce exactly. */
async function seed(url: string): Promise<{ exact: string[]; policyFork: string }> {
  const base = Date.now() + 60_000
  const readings = (n: number, from: number) => Array.from({ length: n }, (_, i) => ({ merge: { t: (from + i) % 13, at: `r${from + i}` }, ts: base + from + i }))
  await put(url, 's/ttl', { ...STATE, 'stream-snapshot-entries': '8', 'stream-ttl': '86400' })
  await append(url, 's/ttl', JSON.stringify(readings(30, 0)))
  await put(url, 's/closed', { ...STATE, 'stream-snapshot-bytes': '400', 'stream-expires-at': '2099-01-01T00:00:00Z' })
  await append(url, 's/closed', JSON.stringify([{ set: { list: ['é', '\u2028', { 'k/~': null }] } }, ...readings(12, 0)]))
  await post(url, 's/closed', { 'content-type': 'application/json', 'stream-closed': 'true' })
  await put(url, 's/empty', { ...STATE, 'stream-closed': 'true' })
  // A state stream whose content type has a parameter: the copy has that very content type.
  await put(url, 's/charset', { ...STATE, 'content-type': 'application/json; charset=utf-8', 'stream-snapshot-entries': '5', 'stream-ttl': '7200' })
  await append(url, 's/charset', JSON.stringify(readings(12, 50)), 'application/json; charset=utf-8')
  // A fork at seq 20 of a source then deleted (it lives on for the fork), and one with its own policy.
  await put(url, 's/source', { ...STATE, 'stream-snapshot-entries': '6' })
  await append(url, 's/source', JSON.stringify(readings(25, 0)))
  await put(url, 's/fork', { 'stream-forked-from': '/v1/stream/s/source', 'stream-fork-offset': '0000000000000020' })
  await append(url, 's/fork', JSON.stringify(readings(9, 100)))
  await put(url, 's/fork-policy', { 'stream-forked-from': '/v1/stream/s/source', 'stream-fork-offset': '0000000000000011', 'stream-snapshot-entries': '4' })
  await append(url, 's/fork-policy', JSON.stringify(readings(7, 200)))
  await deleteStream(url, 's/source')
  // JSON messages of every shape, closed; one JSON stream empty.
  await put(url, 'p/json', { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify([1, 'two', [3], { four: { 5: [null, true] } }]))
  await append(url, 'p/json', JSON.stringify([[[]], -0.5, 'é\u0000"\\']), 'application/json; charset=utf-8')
  await post(url, 'p/json', { 'content-type': 'application/json', 'stream-closed': 'true' })
  await createPlainStream(url, 'p/json-empty', 'application/json')
  // Bytes large enough that every read holds one message: the copy has the very same offsets.
  await put(url, 'p/bin', { 'content-type': BYTES, 'stream-ttl': '3600' })
  for (let i = 0; i < 3; i++) await append(url, 'p/bin', randomBytes(600_000 + i) as unknown as string, BYTES)
  await put(url, 'p/bin-fork', { 'stream-forked-from': '/v1/stream/p/bin', 'stream-fork-offset': '0000000000000002' })
  await append(url, 'p/bin-fork', Buffer.concat([Buffer.from([0, 1, 2, 255]), randomBytes(600_000)]) as unknown as string, BYTES)
  await post(url, 'p/bin-fork', { 'content-type': BYTES, 'stream-closed': 'true' })
  await createPlainStream(url, 'p/empty', 'image/png')
  // Small text messages, which one plain read would run together: each is read alone.
  await createPlainStream(url, 'p/text', 'text/plain; charset=utf-8')
  for (const line of ['alpha\n', 'βeta\n', 'gamma']) await append(url, 'p/text', line, 'text/plain; charset=utf-8')
  return {
    exact: ['p/bin', 'p/bin-fork', 'p/empty', 'p/json', 'p/json-empty', 'p/text', 's/charset', 's/closed', 's/empty', 's/fork', 's/ttl'],
    policyFork: 's/fork-policy',
  }
}

/** The bytes a plain read after message `after` answers, and the offset it says comes next. */
async function rawRead(url: string, name: string, after: number): Promise<{ body: string; next: unknown }> {
  const response = await request(`${url}/v1/stream/${name}?offset=${String(after).padStart(16, '0')}`)
  return { body: await response.body.text(), next: response.headers['stream-next-offset'] }
}

describe('export --all and import of every kind of stream', () => {
  liveTest('a round trip into an empty server gives every stream back exactly', async ({ serve }) => {
    const source = await serve()
    const target = await serve()
    const { exact, policyFork } = await seed(source.url)
    const file = join(dir, 'everything.ndjson')
    const exported = await runCli(['export', '--all', '-o', file], { url: source.url })
    expect(exported).toMatchObject({ code: 0, stdout: '', stderr: '' })
    const headers = readFileSync(file, 'utf8').split('\n').filter((line) => line.startsWith('{"stream":')).map((line) => JSON.parse(line))
    expect(headers.map((header) => header.stream)).toEqual([...exact, policyFork].sort())

    const imported = await runCli(['import', file], { url: target.url })
    expect(imported).toMatchObject({ code: 0, stderr: '' })
    expect(imported.stdout).toContain('imported s/fork: 29 entries appended, 0 already there, seq 29\n')
    expect(imported.stdout).toContain('imported p/bin-fork: 3 entries appended, 0 already there, seq 3, closed\n')
    expect(imported.stdout).toContain('imported p/text: 3 entries appended, 0 already there, seq 3\n')

    for (const name of exact) expect({ name, view: await viewOf(target.url, name) }).toEqual({ name, view: await viewOf(source.url, name) })
    // A fork with a policy of its own: the same entries and the same state at every seq and time.
    expect(await headOf(target.url, policyFork)).toEqual(await headOf(source.url, policyFork))
    expect(await statesOf(target.url, policyFork)).toEqual(await statesOf(source.url, policyFork))
    // Each small message is at its own offset, as in the source.
    for (const after of [0, 1, 2]) {
      const [copy, original] = await Promise.all([target.url, source.url].map((url) => rawRead(url, 'p/text', after)))
      expect(copy).toEqual(original)
    }

    const listed = async (url: string) =>
      (await getJson<{ streams: Array<Record<string, unknown>> }>(url, '/v1/streams')).body.streams
        .map(({ ts: _ts, ...stream }) => stream)
    expect(await listed(target.url)).toEqual(await listed(source.url))

    // The copy exports to the very same lines.
    const again = await runCli(['export', ...exact, policyFork], { url: target.url })
    const original = await runCli(['export', ...exact, policyFork], { url: source.url })
    expect(again.code).toBe(0)
    expect(again.stdout).toBe(original.stdout)

    // Importing again changes nothing, closed streams included.
    const twice = await runCli(['import', file], { url: target.url })
    expect(twice).toMatchObject({ code: 0, stderr: '' })
    expect(twice.stdout).toContain('imported p/json: 0 entries appended, 7 already there, seq 7, closed\n')
    expect(twice.stdout).toContain('imported s/closed: 0 entries appended, 13 already there, seq 13, closed\n')
    for (const name of ['p/bin-fork', 's/closed']) expect(await viewOf(target.url, name)).toEqual(await viewOf(source.url, name))
  }, SPAWNS_TIMEOUT)

  liveTest('a closed stream is closed only once complete: a cut import leaves it open, and its resume closes it', async ({ serve }) => {
    const source = await serve()
    await put(source.url, 'c/state', { ...STATE, 'stream-snapshot-entries': '3' })
    await append(source.url, 'c/state', JSON.stringify(Array.from({ length: 10 }, (_, i) => ({ merge: { i } }))))
    await post(source.url, 'c/state', { 'content-type': 'application/json', 'stream-closed': 'true' })
    await put(source.url, 'c/bytes', { 'content-type': BYTES })
    for (let i = 0; i < 3; i++) await append(source.url, 'c/bytes', randomBytes(700_000) as unknown as string, BYTES)
    await post(source.url, 'c/bytes', { 'content-type': BYTES, 'stream-closed': 'true' })
    const file = join(dir, 'closed.ndjson')
    expect((await runCli(['export', 'c/state', 'c/bytes', '-o', file], { url: source.url })).code).toBe(0)
    const text = readFileSync(file, 'utf8')

    const target = await serve()
    // Cut in the middle of the second stream's second line: the first stream is done, the second is not.
    const second = text.indexOf('{"stream":"c/bytes"')
    const cutAt = text.indexOf('\n', text.indexOf('\n', second) + 1) + 1000
    const cut = join(dir, 'closed-cut.ndjson')
    writeFileSync(cut, text.slice(0, cutAt))
    const stopped = await runCli(['import', cut], { url: target.url })
    expect(stopped.code).toBe(2)
    expect(stopped.stderr).toMatch(/^statestream: TRUNCATED: .*closed-cut\.ndjson line 16 is cut short: the file ends inside it\n$/)
    expect(await headOf(target.url, 'c/state')).toEqual(await headOf(source.url, 'c/state'))
    const half = await headOf(target.url, 'c/bytes')
    expect(half['stream-closed']).toBeUndefined()
    expect(half['stream-next-offset']).toBe('0000000000000001')

    const resumed = await runCli(['import', file], { url: target.url })
    expect(resumed).toMatchObject({ code: 0, stderr: '' })
    expect(resumed.stdout).toBe(
      'imported c/state: 0 entries appended, 10 already there, seq 10, closed\nimported c/bytes: 2 entries appended, 1 already there, seq 3, closed\n',
    )
    for (const name of ['c/state', 'c/bytes']) expect(await viewOf(target.url, name)).toEqual(await viewOf(source.url, name))
    const repeated = await runCli(['import', file], { url: target.url })
    expect(repeated).toMatchObject({ code: 0, stderr: '' })
    expect(repeated.stdout).toContain('imported c/bytes: 0 entries appended, 3 already there, seq 3, closed')

    // A target closed short of the export's end, or open where the export's is closed, is another history.
    const other = await serve()
    await put(other.url, 'c/bytes', { 'content-type': BYTES, 'stream-closed': 'true' })
    const refused = await runCli(['import', file], { url: other.url })
    expect(refused.code).toBe(4)
    expect(refused.stderr).toBe('statestream: STREAM_CONFLICT: "c/bytes" on the server is closed at seq 0, before the export\'s end\n')
  }, SPAWNS_TIMEOUT)

  liveTest('a bad file is refused in one line with its code, and leaves nothing a resume cannot finish', async ({ serve }) => {
    const source = await serve()
    await createPlainStream(source.url, 'b/json', 'application/json')
    await append(source.url, 'b/json', JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ i }))))
    const file = join(dir, 'bad.ndjson')
    expect((await runCli(['export', 'b/json', '-o', file], { url: source.url })).code).toBe(0)
    const lines = readFileSync(file, 'utf8').split('\n')
    const target = await serve()
    const attempt = async (name: string, text: string) => {
      const path = join(dir, name)
      writeFileSync(path, text)
      return runCli(['import', path], { url: target.url })
    }

    const version = await attempt('version.ndjson', ['{"statestream":"export","version":9}', ...lines.slice(1)].join('\n'))
    expect(version.code).toBe(2)
    expect(version.stderr).toBe(`statestream: EXPORT_VERSION: ${join(dir, 'version.ndjson')} line 1: export format version 9 (this statestream reads 1)\n`)
    const kind = await attempt('kind.ndjson', [lines[0], lines[1]?.replace('"kind":"plain"', '"kind":"queue"'), ...lines.slice(2)].join('\n'))
    expect(kind.code).toBe(2)
    expect(kind.stderr).toMatch(/^statestream: INVALID_EXPORT: .* line 2: the header of stream "b\/json" has kind "queue": it must be "state" or "plain"\n$/)
    const gap = await attempt('gap.ndjson', [...lines.slice(0, 5), ...lines.slice(6)].join('\n'))
    expect(gap.code).toBe(2)
    expect(gap.stderr).toMatch(/^statestream: INVALID_EXPORT: .* line 6: expected entry 4 of "b\/json", found 5\n$/)
    const unterminated = await attempt('cut.ndjson', `${lines.slice(0, 30).join('\n')}\n${lines[30]?.slice(0, 6)}`)
    expect(unterminated.code).toBe(2)
    expect(unterminated.stderr).toMatch(/^statestream: TRUNCATED: .* line 31 is cut short: the file ends inside it\n$/)

    // What the bad files left (a stream open, short of its end) the complete file finishes.
    expect((await headOf(target.url, 'b/json'))['stream-closed']).toBeUndefined()
    const done = await runCli(['import', file], { url: target.url })
    expect(done).toMatchObject({ code: 0, stderr: '' })
    expect(await viewOf(target.url, 'b/json')).toEqual(await viewOf(source.url, 'b/json'))
  }, SPAWNS_TIMEOUT)
})
