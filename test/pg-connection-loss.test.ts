/**
 * The database's connections die under a replica (what a PostgreSQL restart, `pg_terminate_backend`
 * or a network reset does): every backend of the test database is terminated from an admin
 * connection while requests are in flight.
 * - Appends and live opens in flight: the replica process lives on, every request is answered (a
 *   success, or `503 STORE_UNAVAILABLE` in the error body), a write refused as "not stored" is not
 *   in the log, every acknowledged one is, seqs stay gapless, and later appends succeed.
 * - A live tail on one replica while another takes the appends: after its feed listens again, the
 *   tail gets every entry committed before, during and after the kill, once each, in order.
 */
import type { Json, Mutation } from '@statestream/common'
import pg from 'pg'
import { request } from 'undici'
import { expect } from 'vitest'
import { headOf, readLog, replicaTest as test } from './support/replicas.ts'
import type { ReplicaProcess } from './support/replicas.ts'
import { SseReader } from './support/sse.ts'

const STREAM = 'faults/list'
/** Any answer comes well within this; a request still open after it hangs (ms). */
const ANSWER_MS = 60_000

/** What one request was answered. */
type Answer = { ok: true } | { ok: false; status: number; code: string; message: string }

/**
 * Resolves once `check` holds, polling every 20 ms; rejects after `ms`, or as soon as `guard`
 * throws (a replica died, a request went unanswered).
 */
async function until(check: () => boolean | Promise<boolean>, what: string, guard: () => void = () => {}, ms = 60_000): Promise<void> {
  const deadline = performance.now() + ms
  for (;;) {
    guard()
    if (await check()) return
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Appends `value` to the stream's list; resolves with the answer (throws if none comes). */
async function appendValue(url: string, value: string): Promise<Answer> {
  const response = await request(`${url}/v1/stream/${STREAM}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ patch: [{ op: 'add', path: '/list/-', value }] }),
    headersTimeout: ANSWER_MS,
    bodyTimeout: ANSWER_MS,
  })
  const text = await response.body.text()
  if (response.statusCode < 300) return { ok: true }
  return errorAnswer(response.statusCode, text)
}

function errorAnswer(status: number, text: string): Answer {
  const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }
  return { ok: false, status, code: String(body.error?.code), message: String(body.error?.message) }
}

/** Creates the stream with an empty list as its first state. */
async function createList(url: string): Promise<void> {
  const created = await request(`${url}/v1/stream/${STREAM}`, { method: 'PUT', headers: { 'content-type': 'application/json', 'stream-kind': 'state' } })
  await created.body.dump()
  expect(created.statusCode).toBe(201)
  const first = await request(`${url}/v1/stream/${STREAM}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"set":{"list":[]}}' })
  await first.body.dump()
  expect(first.statusCode).toBeLessThan(300)
}

/** Writers appending unique values until stopped, each answer kept by value. */
class Writers {
  readonly answers = new Map<string, Answer>()
  /** A request that got no answer (its connection closed: the replica died). */
  failure: unknown
  #stop = false
  readonly done: Promise<void>

  constructor(url: string, writers: number) {
    this.done = Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; !this.#stop && this.failure === undefined; i++) {
          const value = `${w}.${i}`
          try {
            this.answers.set(value, await appendValue(url, value))
          } catch (error) {
            this.failure ??= error
          }
        }
      }),
    ).then(() => {})
  }

  /** Throws once a request went unanswered. */
  check(): void {
    if (this.failure !== undefined) throw new Error(`an append got no answer: ${String(this.failure)}`)
  }

  get acked(): number {
    let n = 0
    for (const answer of this.answers.values()) if (answer.ok) n += 1
    return n
  }

  stop(): Promise<void> {
    this.#stop = true
    return this.done
  }
}

/** Terminates every other backend of the test database; waits until all of them are gone. */
async function killBackends(url: string): Promise<number> {
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    const killed = await admin.query<{ pid: number }>(
      'SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    )
    const pids = killed.rows.map((row) => row.pid)
    await until(async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [pids])).rowCount === 0, 'the terminated backends are gone')
    return pids.length
  } finally {
    await admin.end()
  }
}

async function ready(url: string): Promise<boolean> {
  const response = await request(`${url}/ready`, { headersTimeout: ANSWER_MS, bodyTimeout: ANSWER_MS })
  await response.body.dump()
  return response.statusCode === 200
}

function alive(replica: ReplicaProcess): boolean {
  return replica.child.exitCode === null && replica.child.signalCode === null
}

/** Throws once `replica` has exited. */
function living(replica: ReplicaProcess): void {
  if (!alive(replica)) throw new Error(`the replica died:\n${replica.logs.join('')}`)
}

/** A refusal must be the database's absence, said clearly. */
function expectUnavailable(answer: Answer, what: string): void {
  if (answer.ok) return
  expect({ status: answer.status, code: answer.code }, `${what}: ${answer.message}`).toEqual({ status: 503, code: 'STORE_UNAVAILABLE' })
}

test('backends killed under appends and live opens: the replica lives, every request is answered, nothing acknowledged is lost', { timeout: 240_000 }, async ({ database, newSchema, spawnReplica }) => {
  const url = (database as { url: string }).url
  const replica = await spawnReplica(newSchema())
  await createList(replica.url)

  // Live opens in a loop: each one's initial read is a consistent read on a connection of its own.
  const opens: Answer[] = []
  let opening = true
  let openFailure: unknown
  const opener = (async () => {
    while (opening) {
      const reader = await SseReader.open(`${replica.url}/v1/live/${STREAM}`)
      if (reader.status !== 200) {
        opens.push(errorAnswer(reader.status, await reader.text()))
        continue
      }
      const first = await reader.next(ANSWER_MS)
      reader.close()
      if (first.event === 'window') opens.push({ ok: true })
      else opens.push(errorAnswer(503, first.data))
    }
  })().catch((error: unknown) => {
    openFailure = error
  })

  const writers = new Writers(replica.url, 4)
  const guard = (): void => {
    living(replica)
    writers.check()
    if (openFailure !== undefined) throw new Error(`a live open got no answer: ${String(openFailure)}`)
  }
  let killed = 0
  for (let round = 0; round < 2; round++) {
    const before = writers.acked
    await until(() => writers.acked >= before + 20, `20 more appends are acknowledged (round ${round})`, guard)
    killed += await killBackends(url)
    expect(alive(replica), `the replica survives kill ${round + 1}`).toBe(true)
  }
  const afterKills = writers.acked
  await until(() => writers.acked >= afterKills + 20, '20 appends are acknowledged after the kills', guard)
  await writers.stop()
  opening = false
  await opener
  guard()

  expect(alive(replica), `the replica lives:\n${replica.logs.join('')}`).toBe(true)
  for (const [value, answer] of writers.answers) expectUnavailable(answer, `append ${value}`)
  for (const answer of opens) expectUnavailable(answer, 'live open')
  expect(opens.filter((answer) => answer.ok).length).toBeGreaterThan(0)

  // Once the database answers again, appends succeed.
  await until(() => ready(replica.url), '/ready answers 200', guard)
  for (let i = 0; i < 20; i++) {
    const value = `after.${i}`
    const answer = await appendValue(replica.url, value)
    expect(answer, `append ${value} after the kills`).toEqual({ ok: true })
    writers.answers.set(value, answer)
  }

  const head = await headOf(replica.url, STREAM)
  const log = await readLog(replica.url, STREAM)
  expect(log.length, 'seqs gapless: one entry per seq').toBe(head.seq)
  const list = (head.state as { list: string[] }).list
  expect(new Set(list).size, 'no value stored twice').toBe(list.length)
  const stored = new Set(list)
  for (const [value, answer] of writers.answers) {
    if (answer.ok) expect(stored.has(value), `acknowledged ${value} is stored`).toBe(true)
    else if (answer.message.includes('was not stored')) expect(stored.has(value), `${value}, refused as not stored, is not stored`).toBe(false)
  }
  for (const value of list) expect(writers.answers.has(value), `${value} was appended`).toBe(true)
  const refused = [...writers.answers.values()].filter((answer) => !answer.ok)
  console.log(
    `connection loss: ${killed} backends killed in 2 rounds; ${writers.acked} appends acknowledged, ${refused.length} answered 503 ` +
      `(${refused.filter((answer) => !answer.ok && answer.message.includes('unknown')).length} of unknown outcome); ` +
      `${opens.length} live opens, ${opens.filter((answer) => !answer.ok).length} answered 503; head seq ${head.seq}`,
  )
})

test('backends killed under a live tail: once its feed listens again, the tail gets every entry once, in order', { timeout: 240_000 }, async ({ database, newSchema, spawnReplica }) => {
  const url = (database as { url: string }).url
  const schema = newSchema()
  // The tail on one replica, the appends through the other: entries reach the tail only through
  // its feed's notifications, so the tail goes on only if its feed listens again.
  const reading = await spawnReplica(schema)
  const writing = await spawnReplica(schema)
  await createList(writing.url)

  const tail = await SseReader.open(`${reading.url}/v1/live/${STREAM}`)
  expect(tail.status).toBe(200)
  const window = await tail.next(ANSWER_MS)
  expect(window.event).toBe('window')
  const entries: Array<{ seq: number; m: Mutation }> = []
  let last = Number(window.id)
  const follow = async (upTo: number): Promise<void> => {
    while (last < upTo) {
      const event = await tail.next(ANSWER_MS)
      if (event.event === 'error') throw new Error(`the tail failed: ${event.data}`)
      if (event.event !== 'entry') continue
      const entry = JSON.parse(event.data) as { seq: number; m: Mutation }
      expect(entry.seq, 'the entry after the last one').toBe(last + 1)
      last = entry.seq
      entries.push(entry)
    }
  }

  const writers = new Writers(writing.url, 3)
  const guard = (): void => {
    living(reading)
    living(writing)
    writers.check()
  }
  await until(() => writers.acked >= 10, '10 appends are acknowledged', guard)
  const killed = await killBackends(url)
  const afterKill = writers.acked
  await until(() => writers.acked >= afterKill + 20, '20 appends are acknowledged after the kill', guard)
  await writers.stop()
  guard()

  const head = await headOf(writing.url, STREAM)
  await follow(head.seq)
  // One more: the next entry the tail gets is the one after the head, so nothing came twice.
  expect(await appendValue(writing.url, 'end')).toEqual({ ok: true })
  await follow(head.seq + 1)
  const log = await readLog(writing.url, STREAM)
  expect(log.length, 'seqs gapless').toBe(head.seq + 1)
  const first = Number(window.id)
  expect(entries.map((entry) => entry.seq)).toEqual(Array.from({ length: head.seq + 1 - first }, (_, i) => first + 1 + i))
  expect(entries.map((entry) => entry.m)).toEqual(log.slice(first) as Json[])
  for (const [value, answer] of writers.answers) expectUnavailable(answer, `append ${value}`)
  expect(alive(reading) && alive(writing), `both replicas live:\n${reading.logs.join('')}\n${writing.logs.join('')}`).toBe(true)
  tail.close()
  console.log(`connection loss under a tail: ${killed} backends killed; the tail got seqs ${first + 1}..${last}, ${entries.length} entries, none missed or repeated`)
})
