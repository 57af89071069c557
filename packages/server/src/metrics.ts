/**
 * Prometheus metrics of one statestream plugin instance (prom-client), on a registry the caller
 * gives (so a host application can serve them with its own) or one of its own.
 *
 * They are gathered where each fact is known, without touching the paths they measure: request
 * outcomes and durations from Fastify's hooks, entries, bytes and snapshots from the store's
 * commit events, group commits from the store's commit listener, and slow-reader cuts from the
 * live hub's count, read when scraped.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Counter, Gauge, Histogram } from 'prom-client'
import type { Registry } from 'prom-client'
import type { LiveHub } from './live/live-hub.ts'
import type { StreamStore } from './stream-store.ts'

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
  const entries = new Counter({ name: 'statestream_entries_total', help: 'Entries appended and committed.', registers })
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
    entries.inc(event.entries.length)
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
      appends.inc({ outcome: appendOutcome(reply) })
    }
  })
}
