/**
 * An over-limit body always gets its 413. Fastify refuses a body past the limit before reading it
 * (from its Content-Length) or as soon as it passes it; answering then, with the rest of the body
 * still on its way, makes Node close the connection under the sender, which often sees a reset or
 * `EPIPE` instead of the answer. So the rest is read and dropped first — up to a hard cap, past
 * which the 413 goes out with `Connection: close` (and the sender of a huge body may then miss it).
 * A body read to its end leaves the connection open for the next request.
 */
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'

/** Drains at most this many times the body limit (and at least `MIN_DRAIN_BYTES`). */
const DRAIN_FACTOR = 4
const MIN_DRAIN_BYTES = 16 * 1024 * 1024

/** The most bytes of an over-limit body read before its 413 when the limit is `bodyLimit`. */
export function drainCap(bodyLimit: number): number {
  return Math.max(DRAIN_FACTOR * bodyLimit, MIN_DRAIN_BYTES)
}

/** Makes every body-too-large refusal of `app`'s routes wait for the body (up to the cap). */
export function installBodyDrain(app: FastifyInstance, bodyLimit: number): void {
  const cap = drainCap(bodyLimit)
  app.addHook('onError', async (request, reply, error) => {
    if ((error as { code?: unknown }).code !== 'FST_ERR_CTP_BODY_TOO_LARGE') return
    // Fastify asks to close the connection (more of the body may follow); once all of it is read
    // there is no reason to, and the sender keeps its connection.
    if (await drain(request.raw, cap)) reply.removeHeader('connection')
    else reply.header('connection', 'close')
  })
}

/** Reads and drops the rest of `body`; false when it passes `cap` bytes (or fails) first. */
function drain(body: IncomingMessage, cap: number): Promise<boolean> {
  if (body.complete || body.readableEnded) return Promise.resolve(true)
  return new Promise((resolve) => {
    let read = 0
    const done = (drained: boolean): void => {
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('error', onFail)
      body.off('close', onFail)
      if (!drained) body.pause()
      resolve(drained)
    }
    const onData = (chunk: Buffer): void => {
      read += chunk.length
      if (read > cap) done(false)
    }
    const onEnd = (): void => done(true)
    const onFail = (): void => done(body.complete)
    body.on('data', onData)
    body.on('end', onEnd)
    body.on('error', onFail)
    body.on('close', onFail)
    body.resume()
  })
}
