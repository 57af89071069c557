/**
 * Reading a `text/event-stream` body as it streams: bytes → text → events (eventsource-parser),
 * with a watchdog that cuts a connection gone silent. A half-open TCP connection (a cable pulled,
 * a NAT entry expired) never errors by itself; the server's heartbeats tell a live connection from
 * a dead one, so the watchdog must be longer than the heartbeat interval. Web streams only: the
 * same code reads `fetch` bodies in Node and in browsers.
 */
import { ErrorCode, StateStreamError } from '@statestream/common'
import { createParser } from 'eventsource-parser'
import type { EventSourceMessage } from 'eventsource-parser'
import type { BodyReader } from './transport.ts'

/** One server-sent event: its name (`message` when unnamed), data text and id. */
export interface SseEvent {
  event: string
  data: string
  id: string | undefined
}

/**
 * Feeds every event of `body` to `onEvent` until the body ends (resolves) or fails (rejects).
 * Silence longer than `watchdogMs` cancels the body and rejects with a `NETWORK` error. `onEvent`
 * may throw to stop reading: the body is cancelled and the error passed on. The body is always
 * read to its end or cancelled when this returns.
 */
export async function readSse(body: { getReader(): BodyReader }, onEvent: (event: SseEvent) => void, watchdogMs: number): Promise<void> {
  let failure: unknown
  const parser = createParser({
    onEvent: (message: EventSourceMessage) => {
      if (failure !== undefined) return
      try {
        onEvent({ event: message.event ?? 'message', data: message.data, id: message.id })
      } catch (err) {
        failure = err
      }
    },
  })
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let timer: ReturnType<typeof setTimeout> | undefined
  let silent = false
  const arm = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      silent = true
      void reader.cancel().catch(() => undefined)
    }, watchdogMs)
  }
  try {
    for (;;) {
      arm()
      const { done, value } = await reader.read()
      if (silent) throw new StateStreamError(ErrorCode.NETWORK, `no data for ${watchdogMs} ms: the connection is presumed dead`)
      if (done) break
      parser.feed(decoder.decode(value, { stream: true }))
      if (failure !== undefined) throw failure
    }
    parser.feed(decoder.decode())
    if (failure !== undefined) throw failure
  } catch (err) {
    await reader.cancel().catch(() => undefined)
    if (silent) throw new StateStreamError(ErrorCode.NETWORK, `no data for ${watchdogMs} ms: the connection is presumed dead`)
    throw err
  } finally {
    clearTimeout(timer)
    reader.releaseLock()
  }
}
