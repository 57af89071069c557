/**
 * Optional rate limiting of the statestream routes with `@fastify/rate-limit`: a fixed window of
 * `max` requests per `timeWindowMs`, counted per token when access control is on (so one client
 * behind a shared address is not held back by another) and per client address otherwise. Over it,
 * `429 RATE_LIMITED` with `Retry-After`, in the wire error body.
 */
import { ErrorCode, StateStreamError } from '@statestream/common'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import { credentialsOf } from './auth/access-control.ts'

/** Registers rate limiting on `app`'s routes (those registered after it). */
export async function limitRate(app: FastifyInstance, options: { max: number; timeWindowMs?: number }): Promise<void> {
  const { max, timeWindowMs = 60_000 } = options
  for (const [key, value] of [['max', max], ['timeWindowMs', timeWindowMs]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`rateLimit.${key} must be a positive integer, got ${value}`)
  }
  await app.register(rateLimit, {
    max,
    timeWindow: timeWindowMs,
    keyGenerator: (request) => {
      const token = credentialsOf(request)?.token
      return token === undefined ? `ip:${request.ip}` : `token:${token}`
    },
    errorResponseBuilder: (_request, context) =>
      new StateStreamError(ErrorCode.RATE_LIMITED, `more than ${context.max} requests in ${timeWindowMs} ms; retry in ${context.after}`),
  })
}
