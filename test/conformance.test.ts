/**
 * The Durable Streams conformance suite (the published `@durable-streams/server-conformance-tests`,
 * its version pinned in package.json) against a real listener of this server. The suite registers
 * each of its cases as a vitest test, so one failing case fails the run. Its opt-in subscription
 * cases (a webhook API outside the stream protocol) stay skipped. It runs on both storage
 * engines (the server is on the project's: see `support/engine-test.ts`).
 */
import { runConformanceTests } from '@durable-streams/server-conformance-tests'
import { buildApp } from '@statestream/server'
import { afterAll, inject } from 'vitest'
import { engineOptions, freshDatabase } from './support/pg-database.ts'

/** The suite waits out idle long-polls: a short timeout keeps the whole run short. */
const LONG_POLL_TIMEOUT_MS = 500

// The suite registers its cases at import, so the server is made here rather than in a fixture.
const engine = inject('engine') ?? 'sqlite'
const database = engine === 'postgres' ? await freshDatabase() : undefined
const app = await buildApp({ longPollTimeoutMs: LONG_POLL_TIMEOUT_MS, ...engineOptions(engine, database) })
// The suite's paths are absolute (`/v1/stream/<name>`): the base is the server's root.
const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' })
afterAll(async () => {
  await app.close()
  await database?.drop()
})

// The suite gives its long-poll cases this plus a second each: they wait for the server's 500 ms
// and then for an append, which a busy machine (and a database round trip) can take seconds over.
const SUITE_LONG_POLL_MS = 10_000

runConformanceTests({ baseUrl, longPollTimeoutMs: SUITE_LONG_POLL_MS })
