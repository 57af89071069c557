/**
 * Prometheus metrics of one statestream plugin instance (prom-client), on a registry the caller
 * gives (so a host application can serve them with its own) or one of its own.
 *
 * They are gathered where each fact is known, without touching the paths they measure: request
 * outcomes and durations from Fastify's hooks, entries, bytes and snapshots from the store's
 * commit events, group commits from the store's commit listener, and slow-reader cuts from the
 * live hub's count, read when scraped.
 */
import { JSON_CONTENT_TYPE } from '@statestream/common'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Counter, Gauge, Histogram } from 'prom-client'
import type { Registry } from 'prom-client'
import type { LiveHub } from './live/live-hub.ts'
import type { StreamStore } from './stream-store.ts'
import { mediaType } from './stream-types.ts'

/** Seconds, from a fast read to a slow write under fsync. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Writes per group commit. */
const GROUP_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

/** The live route a request tails, or `undefined` when it is not a live read. */
function liveRoute(request: FastifyRequest): string | undefined {
  const route = request.routeOptions.url
  if (route === '/v1/live/*') return 'live'
  if (route === '/v1/live') return 'live_multi'
  if (route === '/v1/stream/*' && request.method === 'GET') {
    const mode = (request.query as Record<string, unknown>).live
    if (mode === 'sse') return 'stream_sse'
    if (mode === 'long-poll') return 'stream_long_poll'
  }
  return undefined
}

/** The outcome of an append (`POST /v1/stream`, `PUT /v1/state`), from its answer. */
function appendOutcome(reply: FastifyReply): 'appended' | 'duplicate' | 'rejected' {
  if (reply.statusCode >= 300) return 'rejected'
  // An idempotent producer's retry of a write already stored is answered 204 with its headers.
  return reply.statusCode === 204 && reply.hasHeader('producer-epoch') ? 'duplicate' : 'appended'
}

const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const COMMA = 0x2c
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * The entries an append that stored nothing (a duplicate or a refused one) carried: none without
 * a body (a close), one state for `PUT /v1/state`, one per element of a JSON array (a batch, as
 * `splitMessages` flattens it) and one for any other body. Counted by a scan of the top level,
 * not a parse: a refused body may not be JSON at all, and is not worth a second parse.
 */
function carriedEntries(request: FastifyRequest): number {
  const body = request.body
  if (!Buffer.isBuffer(body) || body.length === 0) return 0
  if (request.method === 'PUT' || mediaType(request.headers['content-type'] ?? '') !== JSON_CONTENT_TYPE) return 1
  let i = 0
  while (i < body.length && isSpace(body[i])) i++
  if (body[i] !== OPEN_ARRAY) return 1
  let depth = 1
  let commas = 0
  let content = false
  let inString = false
  for (i++; i < body.length && depth > 0; i++) {
    const c = body[i]
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
      continue
    }
    if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--
      continue
    }
    // Anything but space inside the outer array is an element: `[]` carries none.
    if (!isSpace(c)) content = true
    if (c === QUOTE) inString = true
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) depth++
    else if (c === COMMA && depth === 1) commas++
  }
  return content ? commas + 1 : 0
}

/** JSON's insignificant whitespace. */
function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/**
 * Registers the metrics of `app`'s routes, `store` and `hub` on `registry`, and stops gathering
 * them when the app closes.
 */
export function installMetrics(app: FastifyInstance, store: StreamStore, hub: LiveHub, registry: Registry): void {
  const registers = [registry]
  const appends = new Counter({
    name: 'statestream_appends_total',
    help: 'Append requests (POST /v1/stream, PUT /v1/state) by outcome: appended, duplicate (an idempotent retry) or rejected.',
    labelNames: ['outcome'],
    registers,
  })
  const entries = new Counter({
    name: 'statestream_entries_total',
    help: 'Entries by outcome: stored (committed), duplicate (carried by an idempotent retry) or rejected (carried by a refused append).',
    labelNames: ['outcome'],
    registers,
  })
  // Every outcome is there from the start, so a rate of any of them is 0 rather than absent.
  for (const outcome of ['stored', 'duplicate', 'rejected']) entries.inc({ outcome }, 0)
  const bytes = new Counter({ name: 'statestream_entry_bytes_total', help: 'Bytes of the entries appended and committed.', registers })
  const snapshots = new Counter({ name: 'statestream_snapshots_total', help: 'Snapshots taken by the streams\' policies.', registers })
  const groupSize = new Histogram({
    name: 'statestream_group_commit_writes',
    help: 'Writes carried by one group commit (one SQLite transaction).',
    buckets: GROUP_BUCKETS,
    registers,
  })
  const groupDuration = new Histogram({
    name: 'statestream_group_commit_duration_seconds',
    help: 'Time of one group commit, from its first write to its commit.',
    buckets: DURATION_BUCKETS,
    registers,
  })
  const live = new Gauge({
    name: 'statestream_live_connections',
    help: 'Open live reads by route: live (/v1/live/<name>), live_multi (/v1/live), stream_sse and stream_long_poll (/v1/stream).',
    labelNames: ['route'],
    registers,
  })
  let reportedCuts = 0
  new Counter({
    name: 'statestream_slow_reader_cuts_total',
    help: 'Live readers cut with SLOW_READER because they fell too far behind (they resume without loss).',
    registers,
    collect() {
      this.inc(hub.slowReaderCuts - reportedCuts)
      reportedCuts = hub.slowReaderCuts
    },
  })
  const requests = new Histogram({
    name: 'statestream_request_duration_seconds',
    help: 'Time to answer a request, by method, route and status (a streamed live read is counted by statestream_live_connections instead).',
    labelNames: ['method', 'route', 'status'],
    buckets: DURATION_BUCKETS,
    registers,
  })

  const unsubscribe = store.subscribe((event) => {
    if (event.type !== 'append') return
    entries.inc({ outcome: 'stored' }, event.entries.length)
    let size = 0
    for (const entry of event.entries) size += typeof entry.data === 'string' ? Buffer.byteLength(entry.data) : entry.data.length
    bytes.inc(size)
    if (event.snapshots.length > 0) snapshots.inc(event.snapshots.length)
  })
  const stopCommits = store.onCommit((writes, ms) => {
    groupSize.observe(writes)
    groupDuration.observe(ms / 1000)
  })
  app.addHook('onClose', async () => {
    unsubscribe()
    stopCommits()
  })

  app.addHook('onRequest', async (request, reply) => {
    const route = liveRoute(request)
    if (route === undefined) return
    live.inc({ route })
    reply.raw.once('close', () => live.dec({ route }))
  })
  app.addHook('onResponse', async (request, reply) => {
    // Routes by their pattern (`/v1/window/*`), never by URL: the label set stays small.
    const route = request.routeOptions.url ?? 'none'
    requests.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
    if ((request.method === 'POST' && route === '/v1/stream/*') || (request.method === 'PUT' && route === '/v1/state/*')) {
      const outcome = appendOutcome(reply)
      appends.inc({ outcome })
      // Stored entries are counted as they commit (a PUT /v1/state stores its difference, or
      // nothing); those an append carried but did not store, from its request.
      if (outcome !== 'appended') entries.inc({ outcome }, carriedEntries(request))
    }
  })
}
