/**
 * The one error handler: every failure becomes `{ error: { code, message } }` with the status of
 * its code. Unknown errors are logged and answered with `INTERNAL` and no detail.
 */
import { ERROR_STATUS, ErrorCode, StateStreamError } from '@statestream/common'
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

/** Maps any error to the wire error of statestream. */
export function toStateStreamError(error: unknown): StateStreamError {
  if (isStateStreamError(error)) return error
  const fastifyError = error as Partial<FastifyError>
  if (fastifyError.validation !== undefined) {
    return new StateStreamError(ErrorCode.INVALID_PARAMETER, fastifyError.message ?? 'invalid request')
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new StateStreamError(ErrorCode.PAYLOAD_TOO_LARGE, 'the request body is larger than the server accepts')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // The only path parameters are stream names.
      return new StateStreamError(ErrorCode.INVALID_STREAM_NAME, 'the stream name is far longer than a stream name may be')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new StateStreamError(ErrorCode.BAD_REQUEST, fastifyError.message ?? 'malformed request')
  }
  const status = fastifyError.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new StateStreamError(ErrorCode.BAD_REQUEST, fastifyError.message ?? 'bad request')
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
    const wire = toStateStreamError(error)
    if (wire.code === ErrorCode.INTERNAL) request.log.error({ err: error }, 'request failed')
    return sendError(reply, wire)
  })
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
