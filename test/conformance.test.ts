/**
 * The Durable Streams conformance suite (the published `@durable-streams/server-conformance-tests`,
 * pinned) against a real listener of this server. Every case is a vitest test: one failing case
 * fails the run.
 */
import { buildApp } from '@statestream/server'
import { runConformanceTests } from '@durable-streams/server-conformance-tests'
import { afterAll } from 'vitest'

/** The suite waits out idle long-polls: a short timeout keeps the whole run short. */
const LONG_POLL_TIMEOUT_MS = 500

const app = await buildApp({ longPollTimeoutMs: LONG_POLL_TIMEOUT_MS })
const baseUrl = await app.listen({ port: 0, host: "127.0.0.1" })
afterAll(() => app.close())

runConformanceTests({ baseUrl, longPollTimeoutMs: LONG_POLL_TIMEOUT_MS })
