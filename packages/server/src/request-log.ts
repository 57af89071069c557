/**
 * One log line per request, when its response ends (a live read too, however long it lasted):
 * `GET /v1/window/a?at=now 200 1.4 ms`, with `method`, `url`, `status` and `ms` as fields for
 * machines. Probes (`/health`, `/ready`, `/metrics`) log at `debug`, so a scraped server's `info`
 * log holds only real traffic. (Fastify's own two lines per request are turned off.)
 */
import type { FastifyInstance } from 'fastify'

/** The fields of a request line, which a human-readable log shows in the message instead. */
export const REQUEST_LOG_FIELDS = ['method', 'url', 'status', 'ms'] as const

export function installRequestLog(app: FastifyInstance, quietRoutes: ReadonlySet<string>): void {
  app.addHook('onRequest', async (request, reply) => {
    const started = performance.now()
    const response = reply.raw
    let logged = false
    const log = (complete: boolean): void => {
      if (logged) return
      logged = true
      const ms = Math.round((performance.now() - started) * 10) / 10
      const status = response.statusCode
      const fields = { method: request.method, url: request.url, status, ms }
      // A response that closed before it finished was cut short: the client went away.
      const line = `${request.method} ${request.url} ${status}${complete ? '' : ' (cut short)'} ${ms} ms`
      const route = request.routeOptions.url
      if (route !== undefined && quietRoutes.has(route)) request.log.debug(fields, line)
      else request.log.info(fields, line)
    }
    response.once('finish', () => log(true))
    response.once('close', () => log(response.writableFinished))
  })
}
