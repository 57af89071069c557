/**
 * Shared fixtures and helpers of the server tests: an app on an in-memory database with an
 * injected clock (closed after each test), request shorthands for state streams, and assertions
 * on the wire error body.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ERROR_STATUS, encodeOffset } from '@statestream/common'
import type { ErrorCode, Json, Mutation, SnapshotPolicy } from '@statestream/common'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'
import { buildApp } from '../src/app.ts'
import type { AppOptions } from '../src/app.ts'
import Database from 'better-sqlite3'
import { engineTest } from '../../../test/support/engine-test.ts'
import { queryFileSchema } from '../../../test/support/pg-database.ts'

/** A settable clock: `now()` answers `t` until a test moves it. */
export class Clock {
  t: number
  constructor(t = 1_700_000_000_000) {
    this.t = t
  }
  readonly now = (): number => this.t
  /** Sets the clock to `t` (ms) and returns it. */
  set(t: number): number {
    this.t = t
    return t
  }
}

/**
 * Test context: `clock` drives `app` (built with defaults); `makeApp` builds more, all closed
 * after. Every app is on the project's storage engine (`engine`: SQLite, or PostgreSQL in the
 * `postgres` project, where each test file has a database and each app a schema of its own).
 */
export interface ServerFixtures {
  clock: Clock
  app: FastifyInstance
  makeApp: (options?: AppOptions) => Promise<FastifyInstance>
  tmp: string
  /**
   * Rows of `table` in the store opened on `file` (closed first), of stream `stream` or all of
   * them: what the store keeps, whichever engine keeps it.
   */
  rowCount: (file: string, table: string, stream?: string) => Promise<number>
}

export const test = engineTest.extend<ServerFixtures>({
  // eslint-disable-next-line no-empty-pattern
  clock: async ({}, use) => {
    await use(new Clock())
  },
  makeApp: async ({ clock, onEngine }, use) => {
    const apps: FastifyInstance[] = []
    await use(async (options = {}) => {
      const app = await buildApp(onEngine({ now: clock.now, ...options }))
      apps.push(app)
      return app
    })
    for (const app of apps) await app.close()
  },
  app: async ({ makeApp }, use) => {
    await use(await makeApp())
  },
  rowCount: async ({ engine, database }, use) => {
    await use(async (file, table, stream) => {
      const where = stream === undefined ? '' : ' WHERE stream_id = (SELECT id FROM streams WHERE name = $1)'
      const sql = `SELECT count(*)::int AS n FROM ${table}${where}`
      if (engine === 'postgres' && database !== undefined) {
        const rows = await queryFileSchema<{ n: number }>(database, file, sql, stream === undefined ? [] : [stream])
        return rows[0]?.n ?? 0
      }
      const db = new Database(file, { readonly: true })
      try {
        const row = db.prepare(sql.replace('$1', '?').replace('::int', '')).get(...(stream === undefined ? [] : [stream])) as { n: number }
        return row.n
      } finally {
        db.close()
      }
    })
  },
  // eslint-disable-next-line no-empty-pattern
  tmp: async ({}, use) => {
    const dir = await mkdtemp(join(tmpdir(), 'statestream-test-'))
    await use(dir)
    await rm(dir, { recursive: true, force: true })
  },
})

export type Response = LightMyRequestResponse

/** Headers that create a state stream, with an optional snapshot policy. */
export function stateHeaders(policy: Partial<SnapshotPolicy> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    'stream-kind': 'state',
    ...(policy.entries !== undefined && { 'stream-snapshot-entries': String(policy.entries) }),
    ...(policy.bytes !== undefined && { 'stream-snapshot-bytes': String(policy.bytes) }),
    ...(policy.ms !== undefined && { 'stream-snapshot-ms': String(policy.ms) }),
  }
}

/** Creates the state stream `name` (201 expected). */
export async function createState(
  app: FastifyInstance,
  name: string,
  policy: Partial<SnapshotPolicy> = {},
  body?: Json,
): Promise<Response> {
  const res = await app.inject({
    method: 'PUT',
    url: `/v1/stream/${name}`,
    headers: stateHeaders(policy),
    ...(body !== undefined && { payload: JSON.stringify(body) }),
  })
  expect(res.statusCode, res.body).toBe(201)
  return res
}

/** POSTs `body` (a message or an array of messages) as JSON to the stream `name`. */
export function post(app: FastifyInstance, name: string, body: Json | string): Promise<Response> {
  return app.inject({
    method: 'POST',
    url: `/v1/stream/${name}`,
    headers: { 'content-type': 'application/json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

/** POSTs and expects 204; returns the seq the stream's head is at afterwards. */
export async function append(app: FastifyInstance, name: string, body: Json): Promise<number> {
  const res = await post(app, name, body)
  expect(res.statusCode, res.body).toBe(204)
  return Number(res.headers['stream-next-offset'])
}

/** GETs `url` and returns its parsed JSON body, expecting 200. */
export async function getJson<T = unknown>(app: FastifyInstance, url: string): Promise<T> {
  const res = await app.inject({ method: 'GET', url })
  expect(res.statusCode, `${url}: ${res.body}`).toBe(200)
  return res.json<T>()
}

/** The state answer of `/v1/state`. */
export interface StateAnswer {
  seq: number | null
  ts: number | null
  state: Json
}

/** A window answer of `/v1/window`. */
export interface WindowAnswer {
  stream: string
  start: { seq: number; ts: number; state: Json } | null
  entries: Array<{ seq: number; ts: number; m: Mutation }>
  end: { seq: number; ts: number } | null
  nextOffset: string
}

/** `GET /v1/state/<name>?<query>`. */
export function stateAt(app: FastifyInstance, name: string, query: string): Promise<StateAnswer> {
  return getJson<StateAnswer>(app, `/v1/state/${name}?${query}`)
}

/** `GET /v1/window/<name>?<query>`. */
export function windowAt(app: FastifyInstance, name: string, query: string): Promise<WindowAnswer> {
  return getJson<WindowAnswer>(app, `/v1/window/${name}?${query}`)
}

/** The head of a stream as `HEAD` reports it: its next offset as a seq. */
export async function headSeq(app: FastifyInstance, name: string): Promise<number> {
  const res = await app.inject({ method: 'HEAD', url: `/v1/stream/${name}` })
  expect(res.statusCode).toBe(200)
  return Number(res.headers['stream-next-offset'])
}

/** Everything observable about a stream's stored data: head, log and head state. */
export async function observe(app: FastifyInstance, name: string): Promise<{ head: string; log: string; state: string }> {
  const head = await app.inject({ method: 'HEAD', url: `/v1/stream/${name}` })
  const log = await app.inject({ method: 'GET', url: `/v1/stream/${name}?offset=-1` })
  const state = await app.inject({ method: 'GET', url: `/v1/state/${name}` })
  return {
    head: String(head.headers['stream-next-offset']),
    log: log.body,
    // A plain stream has no state: its answer (an error body) is still stable.
    state: state.body,
  }
}

/** Asserts `res` is the wire error `code` with its status, and no internal detail. */
export function expectError(res: Response, code: ErrorCode): void {
  expect(res.statusCode, res.body).toBe(ERROR_STATUS[code])
  const body = res.json<{ error: { code: string; message: string } }>()
  expect(body.error.code, res.body).toBe(code)
  expect(typeof body.error.message).toBe('string')
  expect(body.error.message.length).toBeGreaterThan(0)
  expect(res.body).not.toMatch(/SQLITE|at .*\.ts:\d+/)
}

/** The wire offset after entry `seq`. */
export const offset = encodeOffset
