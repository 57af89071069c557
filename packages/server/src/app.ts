/**
 * `buildApp()`: a ready-to-listen Fastify instance serving statestream and the operations routes
 * (`/health`, `/ready`, `/metrics`). It does not listen; `main.ts` does (and tests use `inject()`
 * or `listen({ port: 0 })`).
 *
 * Every answer it sends is either a success or the wire error body, Fastify's and Node's own
 * refusals included: malformed requests (`clientErrorHandler`), bad URLs (`frameworkErrors`),
 * unknown routes, a request without `Host`, and requests that arrive while it shuts down.
 */
import { ErrorCode, ROUTES, StateStreamError } from '@statestream/common'
import Fastify, { LogController } from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { Registry, collectDefaultMetrics } from 'prom-client'
import { clientErrorHandler, installErrorHandler, installSecurityHeaders, noRoute, sendError } from './http-errors.ts'
import { inspectorRoutes } from './inspector-routes.ts'
import type { InspectorOptions } from './inspector-routes.ts'
import { statestream } from './plugin.ts'
import type { StatestreamOptions } from './plugin.ts'
import { installRequestLog } from './request-log.ts'
import { capConnectionsPerAddress, resolveServerLimits, serverOptions } from './server-limits.ts'
import type { ServerLimitsOptions } from './server-limits.ts'
import { StreamStore } from './stream-store.ts'

/** Options of `buildApp`: the plugin's, the server's timeouts and connection caps, and Fastify's logger. */
export interface AppOptions extends StatestreamOptions, ServerLimitsOptions {
  /** Fastify/pino logger option. Default: off. */
  logger?: FastifyServerOptions['logger']
  /** The web timeline inspector at `/inspector/`: `false` turns it off. Default: on, serving the built bundle. */
  inspector?: false | InspectorOptions
}

/** Routes a scraper or an orchestrator calls all day: their requests log at `debug`, not `info`. */
const PROBES: ReadonlySet<string> = new Set([ROUTES.health, ROUTES.ready, ROUTES.metrics])

export async function buildApp(options: AppOptions = {}): Promise<FastifyInstance> {
  const limits = resolveServerLimits(options)
  const server = serverOptions(limits)
  const app = Fastify({
    logger: options.logger ?? false,
    // Header, body and idle timeouts: no client holds a connection by being slow.
    ...server,
    // Node would answer an HTTP/1.1 request without Host itself, with an empty 400.
    http: { ...server.http, requireHostHeader: false },
    // One line per request instead (request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // Stream names may be 512 bytes; they arrive as one wildcard parameter.
    routerOptions: { maxParamLength: 2048 },
    // Closing ends live responses itself (preClose), Node's close() closes the connections that
    // are idle, and every answer given while closing closes its own (below). A connection whose
    // request is under way is never cut: its write would be stored and its writer never told, and
    // told to retry elsewhere.
    forceCloseConnections: false,
    // Requests that arrive while closing get SHUTTING_DOWN from the hook below, not Fastify's body.
    return503OnClosing: false,
    clientErrorHandler,
    // Malformed URLs (bad percent-encoding, over-long names) get our wire error, not Fastify's.
    frameworkErrors: (error, _request, reply) => {
      sendError(reply, error)
    },
  })
  capConnectionsPerAddress(app.server, limits.maxConnectionsPerAddress)
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  // What is answered while closing is its connection's last answer: Node's close() waits for
  // every connection, and one kept alive would otherwise stay open after it.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close')
    return payload
  })
  app.addHook('onRequest', async (request) => {
    if (closing) throw new StateStreamError(ErrorCode.SHUTTING_DOWN, 'the server is shutting down; retry on another server or later')
    const { httpVersionMajor, httpVersionMinor } = request.raw
    if (request.headers.host === undefined && httpVersionMajor === 1 && httpVersionMinor >= 1) {
      throw new StateStreamError(ErrorCode.BAD_REQUEST, 'an HTTP/1.1 request needs a Host header')
    }
  })
  installRequestLog(app, PROBES)
  installErrorHandler(app)
  // Every answer, the probes, the inspector and 404s included (the plugin's routes set them too).
  installSecurityHeaders(app)
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, noRoute(request)),
  )

  // The app owns the store (unless given one), so that /ready can ask it.
  const store = options.store ?? (await StreamStore.open({ log: app.log, ...options }))
  if (options.store === undefined) app.addHook('onClose', async () => store.close())
  const metrics = new Registry()
  collectDefaultMetrics({ register: metrics })

  app.get(ROUTES.health, async () => ({ status: 'ok' }))
  if (options.inspector !== false) await app.register(inspectorRoutes, options.inspector ?? {})
  app.get(ROUTES.ready, async (_request, reply) => {
    if (closing) throw new StateStreamError(ErrorCode.SHUTTING_DOWN, 'the server is shutting down')
    try {
      await store.ping()
    } catch (error) {
      throw new StateStreamError(ErrorCode.NOT_READY, 'the store does not answer', { cause: error })
    }
    return reply.header('cache-control', 'no-store').send({ status: 'ready' })
  })
  app.get(ROUTES.metrics, async (_request, reply) =>
    reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(await metrics.metrics()),
  )
  try {
    await app.register(statestream, { ...options, store, metrics })
  } catch (error) {
    // A plugin option refused (an auth key, say): the store opened for it must not stay open.
    if (options.store === undefined) await store.close()
    throw error
  }
  return app
}
