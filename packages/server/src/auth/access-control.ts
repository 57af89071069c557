/**
 * The access-control hook: when the plugin has an `auth` option, every one of its routes needs a
 * bearer token that grants what the request does (design §2.5). This file holds the one table of
 * what each route needs; a route it does not know needs `admin`, so a new route is closed until it
 * is listed here.
 *
 *   GET, HEAD /v1/stream/<n>, GET /v1/window|windows|state/<n>, /v1/live/<n>     read <n>
 *   GET /v1/live?stream=<a>&stream=<b>…                                         read each
 *   POST /v1/stream/<n>, PUT /v1/state/<n>                                      write <n>
 *   POST /v1/stream/<n> with Stream-Closed: true (close)                        admin
 *   PUT, DELETE /v1/stream/<n> (create, fork, delete), GET /v1/streams (list)  admin
 *
 * The token is checked in `onRequest`, before a body is read. A CORS preflight (`OPTIONS`) carries
 * no credentials and is let through. A request whose stream name is invalid is let through to its
 * route once the token is valid, which refuses it with `INVALID_STREAM_NAME` as it would anyway.
 */
import { ErrorCode, HEADERS, QUERY, ROUTES, STREAM_RESUME_SEPARATOR, StateStreamError, streamNameProblem } from '@statestream/common'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { allows } from './grants.ts'
import type { Action } from './grants.ts'
import { TokenVerifier } from './token-verifier.ts'
import type { AuthOptions, Credentials } from './token-verifier.ts'

/** What a request needs: an action on some streams (`names`), or `admin`. */
export type Access = { action: Action; names: readonly string[] }

const credentialsByRequest = new WeakMap<FastifyRequest, Credentials>()

/** The verified credentials of `request`, when access control is on. */
export function credentialsOf(request: FastifyRequest): Credentials | undefined {
  return credentialsByRequest.get(request)
}

/** Adds the access-control hook to `app` (the plugin's context). */
export function installAccessControl(app: FastifyInstance, options: AuthOptions): void {
  const verifier = new TokenVerifier(options)
  app.addHook('onRequest', async (request) => {
    if (request.method === 'OPTIONS') return
    const header = request.headers.authorization
    const credentials = await verifier.verify(Array.isArray(header) ? header[0] : header)
    credentialsByRequest.set(request, credentials)
    const { action, names } = accessFor(request)
    const denied = action === 'admin' ? !credentials.grants.admin : names.find((name) => !allows(credentials.grants, action, name))
    if (denied === false || denied === undefined) return
    const what = action === 'admin' ? '"admin"' : `"${action}" on "${denied as string}"`
    throw new StateStreamError(ErrorCode.FORBIDDEN, `the token does not grant ${what}`, {
      headers: { 'www-authenticate': 'Bearer realm="statestream", error="insufficient_scope"' },
    })
  })
}

/** What `request` needs, by its route (the table above). */
export function accessFor(request: FastifyRequest): Access {
  const route = request.routeOptions.url
  const method = request.method
  const name = (request.params as { '*'?: unknown } | undefined)?.['*']
  const named = typeof name === 'string' && streamNameProblem(name) === undefined ? [name] : []
  switch (route) {
    case `${ROUTES.stream}*`:
      if (method === 'GET' || method === 'HEAD') return { action: 'read', names: named }
      if (method === 'POST') return { action: closes(request) ? 'admin' : 'write', names: named }
      return { action: 'admin', names: named }
    case `${ROUTES.window}*`:
    case `${ROUTES.windows}*`:
    case `${ROUTES.live}*`:
      return { action: 'read', names: named }
    case `${ROUTES.state}*`:
      return { action: method === 'GET' || method === 'HEAD' ? 'read' : 'write', names: named }
    case ROUTES.liveMulti:
      return { action: 'read', names: multiplexedNames(request.query) }
    default:
      return { action: 'admin', names: [] }
  }
}

/** True for a close (`Stream-Closed: true`, case-insensitive: Durable Streams §4.1). */
function closes(request: FastifyRequest): boolean {
  const value = request.headers[HEADERS.streamClosed]
  return typeof value === 'string' && value.toLowerCase() === 'true'
}

/** The valid stream names of a multiplexed live request (`stream=<name>` or `<name>@<seq>`). */
function multiplexedNames(query: unknown): string[] {
  const raw = (query as Record<string, unknown> | undefined)?.[QUERY.stream]
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
  const names: string[] = []
  for (const value of values) {
    if (typeof value !== 'string') continue
    const split = value.indexOf(STREAM_RESUME_SEPARATOR)
    const name = split === -1 ? value : value.slice(0, split)
    if (streamNameProblem(name) === undefined) names.push(name)
  }
  return names
}
