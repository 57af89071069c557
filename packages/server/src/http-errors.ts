/**
 * The one error body: every failure becomes `{ error: { code, message } }` with the status of its
 * code, whoever raised it: our routes, Fastify (routing, body parsing, URLs), or Node's HTTP parser
 * (`clientErrorHandler`). Unknown errors are logged and answered with `INTERNAL` and no detail.
 */
import { ERROR_STATUS, ErrorCode, StateStreamError, clip, quote } from '@statestream/common'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** True for a `StateStreamError`, by its shape (it may come from another copy of `common`). */
export function isStateStreamError(error: unknown): error is StateStreamError {
  return (
    error instanceof Error &&
    error.name === 'StateStreamError' &&
    typeof (error as { code?: unknown }).code === 'string' &&
    Object.hasOwn(ERROR_STATUS, (error as unknown as { code: string }).code)
  )
}

/**
 * The code of a framework error by its HTTP status (Fastify's own errors, Node's client errors):
 * what an error without a code of ours means on the wire.
 */
const CODE_BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: ErrorCode.BAD_REQUEST,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  405: ErrorCode.METHOD_NOT_ALLOWED,
  408: ErrorCode.REQUEST_TIMEOUT,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  429: ErrorCode.RATE_LIMITED,
  431: ErrorCode.HEADERS_TOO_LARGE,
  503: ErrorCode.SHUTTING_DOWN,
}

/** Maps any error to the wire error of statestream. */
export function toStateStreamError(error: unknown): StateStreamError {
  if (isStateStreamError(error)) return error
  const fastifyError = error as Partial<FastifyError>
  if (fastifyError.validation !== undefined) {
    return new StateStreamError(ErrorCode.INVALID_PARAMETER, clipped(fastifyError.message) ?? 'invalid request')
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new StateStreamError(ErrorCode.PAYLOAD_TOO_LARGE, 'the request body is larger than the server accepts')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // The only path parameters are stream names.
      return new StateStreamError(ErrorCode.INVALID_STREAM_NAME, 'the stream name is far longer than a stream name may be')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new StateStreamError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, clipped(fastifyError.message) ?? 'unsupported content type')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new StateStreamError(ErrorCode.BAD_REQUEST, clipped(fastifyError.message) ?? 'malformed request')
  }
  const status = fastifyError.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new StateStreamError(CODE_BY_STATUS[status] ?? ErrorCode.BAD_REQUEST, clipped(fastifyError.message) ?? 'bad request')
  }
  return new StateStreamError(ErrorCode.INTERNAL, 'internal error', { cause: error })
}

/** Sends `error` as a wire error. */
export function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  const wire = toStateStreamError(error)
  return reply
    .code(ERROR_STATUS[wire.code])
    .headers(wire.headers)
    .header('content-type', 'application/json; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(JSON.stringify(wire.toBody()))
}

/** Installs the error handler on `app` (its encapsulation context). */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    // A body refused on its way to a route that does not exist (Fastify parses it first): what is
    // wrong is the route.
    if (request.is404) return sendError(reply, noRoute(request))
    const wire = toStateStreamError(error)
    if (wire.code === ErrorCode.INTERNAL) request.log.error({ err: error }, 'request failed')
    return sendError(reply, wire)
  })
}

/** `NOT_FOUND` for a request no route takes, naming its method and path (not its query). */
export function noRoute(request: FastifyRequest): StateStreamError {
  return new StateStreamError(ErrorCode.NOT_FOUND, `no route ${request.method} ${quote(request.url.split('?')[0] ?? '')}`)
}

/**
 * Node's `clientError`: a request the HTTP parser refused before any route saw it (a malformed
 * request line or header, a raw NUL, headers over the size limit, a request that took too long to
 * arrive). The answer is still the wire error body, then the connection is closed: after a parse
 * error nothing more can be read from it.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Duplex): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const wire =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new StateStreamError(ErrorCode.HEADERS_TOO_LARGE, 'the request headers are larger than the server accepts')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new StateStreamError(ErrorCode.REQUEST_TIMEOUT, 'the request took too long to arrive')
        : new StateStreamError(ErrorCode.BAD_REQUEST, `malformed HTTP request${error.code?.startsWith('HPE_') ? ` (${error.code})` : ''}`)
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = JSON.stringify(wire.toBody())
  const status = ERROR_STATUS[wire.code]
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nCross-Origin-Resource-Policy: cross-origin\r\n' +
      'Connection: close\r\n\r\n' +
      body,
  )
}

/**
 * Browser security headers (Durable Streams protocol §12.7) on every response of `app`'s routes,
 * errors included: no MIME sniffing of stream bytes, and an explicit cross-origin policy.
 */
export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff').header('cross-origin-resource-policy', 'cross-origin')
    return payload
  })
}

/** A framework's message, which may quote the request (a header, a media type), cut short. */
function clipped(message: string | undefined): string | undefined {
  return message === undefined ? undefined : clip(message)
}
