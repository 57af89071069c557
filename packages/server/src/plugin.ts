/**
 * The embeddable Fastify plugin: every statestream route, its own body parsing and error
 * handling, encapsulated so that a host application's other routes are untouched.
 *
 *   app.register(statestream, { file: 'streams.db' })
 */
import { DEFAULT_BODY_LIMIT } from '@statestream/common'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import { installBodyDrain } from './body-drain.ts'
import { installCors } from './cors.ts'
import type { CorsOrigins } from './cors.ts'
import { installErrorHandler } from './http-errors.ts'
import { assertExactPath } from './params.ts'
import { installAccessControl } from './auth/access-control.ts'
import type { AuthOptions } from './auth/token-verifier.ts'
import { limitRate } from './rate-limit.ts'
import { LiveHub } from './live/live-hub.ts'
import type { LiveOptions } from './live/live-hub.ts'
import { streamLiveRead } from './live/stream-tail.ts'
import { installMetrics } from './metrics.ts'
import { historyRoutes } from './routes/history-routes.ts'
import { listRoutes } from './routes/list-routes.ts'
import { liveRoutes } from './routes/live-routes.ts'
import { streamRoutes } from './routes/stream-routes.ts'
import { StreamStore } from './stream-store.ts'
import type { StreamStoreOptions } from './stream-store.ts'
import type { StreamInfo } from './stream-types.ts'

/**
 * Options of the `statestream` plugin: the store's (`StreamStoreOptions`), the live routes'
 * (`LiveOptions`: long-poll timeout, SSE lifetime, heartbeat and clock intervals, per-reader
 * buffer, streams per connection), and these.
 */
export interface StatestreamOptions extends StreamStoreOptions, LiveOptions {
  /**
   * A store to serve. The caller owns it (the plugin does not close it). Without one the plugin
   * opens a store from the other options and closes it when the app closes.
   */
  store?: StreamStore
  /**
   * Largest accepted request body, in bytes; larger ones get 413 (once the body is read, up to a
   * hard cap: see `body-drain.ts`). Default 10 MiB, the Durable Streams reference server's.
   */
  bodyLimit?: number
  /**
   * Origins allowed to call from a browser (CORS): `'*'` (the default: any origin, as a local
   * server is open to all), a list of exact origins (`['https://app.example.com']`), or `false` for
   * no CORS headers at all.
   */
  corsOrigins?: CorsOrigins
  /** Largest catch-up read of `/v1/stream`, in bytes. Default 1 MiB. */
  readChunkBytes?: number
  /**
   * Rate limiting (`@fastify/rate-limit`): at most `max` requests per `timeWindowMs` (default
   * 60,000) from one token (with `auth`) or else one client address; more are `429
   * RATE_LIMITED` with `Retry-After`. Off without it.
   */
  rateLimit?: { max: number; timeWindowMs?: number }
  /**
   * Access control (design §2.5): every route needs a bearer JWT granting what it does. Off
   * (every route open) without it. See `AuthOptions`.
   */
  auth?: AuthOptions
  /**
   * A prom-client registry to put the plugin's metrics on (see `metrics.ts`); the host serves it.
   * Default: none gathered. `buildApp` gives one and serves it at `/metrics`.
   */
  metrics?: Registry
}

export async function statestream(app: FastifyInstance, options: StatestreamOptions): Promise<void> {
  // First: preflights are answered before any later hook (access control) runs.
  await installCors(app, options.corsOrigins ?? '*')
  // Then access control, so that a bad key fails the registration before anything is opened.
  if (options.auth !== undefined) installAccessControl(app, options.auth)
  const owned = options.store === undefined
  const store = options.store ?? (await StreamStore.open({ log: app.log, ...options }))
  if (owned) app.addHook('onClose', async () => store.close())

  // Every body is taken as bytes: plain streams store them as they are, JSON is parsed where a
  // route knows what it must be (so its errors carry our codes).
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    done(null, body)
  })
  installBodyDrain(app, bodyLimit)
  installErrorHandler(app)
  // After access control: a verified token is what requests are counted by.
  if (options.rateLimit !== undefined) await limitRate(app, options.rateLimit)
  // Names are exact: an encoded "/" is never a separator.
  app.addHook('onRequest', async (request) => assertExactPath(request.url))

  // One hub per plugin instance: the store's only live listener. Live responses end before the
  // server stops accepting (preClose), so closing never waits on a reader; onClose is the backstop.
  const hub = new LiveHub(store, options)
  app.addHook('preClose', async () => hub.close())
  app.addHook('onClose', async () => hub.close())

  // Before the routes: hooks reach only the routes registered after them.
  if (options.metrics !== undefined) installMetrics(app, store, hub, options.metrics)

  const readChunkBytes = options.readChunkBytes ?? 1024 * 1024
  const liveRead = (request: FastifyRequest, reply: FastifyReply, info: StreamInfo, mode: string, after: number | 'now') =>
    streamLiveRead(hub, store, readChunkBytes, request, reply, info, mode, after)
  await app.register(streamRoutes, { store, readChunkBytes, liveRead })
  await app.register(historyRoutes, { store })
  await app.register(liveRoutes, { store, hub })
  await app.register(listRoutes, { store })
}
