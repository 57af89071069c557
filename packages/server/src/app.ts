/**
 * `buildApp()`: a ready-to-listen Fastify instance serving statestream and `/health`. It does not
 * listen; `main.ts` does (and tests use `inject()` or `listen({ port: 0 })`).
 */
import { ErrorCode, ROUTES } from '@statestream/common'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { installErrorHandler, sendError } from './http-errors.ts'
import { statestream } from './plugin.ts'
import type { StatestreamOptions } from './plugin.ts'
import { capConnectionsPerAddress, resolveServerLimits, serverOptions } from './server-limits.ts'
import type { ServerLimitsOptions } from './server-limits.ts'
import { StateStreamError } from '@statestream/common'

/** Options of `buildApp`: the plugin's, the server's timeouts and connection caps, and Fastify's logger. */
export interface AppOptions extends StatestreamOptions, ServerLimitsOptions {
  /** Fastify/pino logger option. Default: off. */
  logger?: FastifyServerOptions['logger']
}

export async function buildApp(options: AppOptions = {}): Promise<FastifyInstance> {
  const limits = resolveServerLimits(options)
  const app = Fastify({
    logger: options.logger ?? false,
    // Header, body and idle timeouts: no client holds a connection by being slow.
    ...serverOptions(limits),
    // Stream names may be 512 bytes; they arrive as one wildcard parameter.
    routerOptions: { maxParamLength: 2048 },
    // Live responses are long-lived: close them (and idle keep-alives) when the app closes.
    forceCloseConnections: true,
    return503OnClosing: true,
    // Malformed URLs (bad percent-encoding, over-long names) get our wire error, not Fastify's.
    frameworkErrors: (error, _request, reply) => {
      sendError(reply, error)
    },
  })
  capConnectionsPerAddress(app.server, limits.maxConnectionsPerAddress)
  installErrorHandler(app)
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new StateStreamError(ErrorCode.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0]}`)),
  )
  app.get(ROUTES.health, async () => ({ status: 'ok' }))
  await app.register(statestream, options)
  return app
}
