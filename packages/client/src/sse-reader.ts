/**
 * Reading a `text/event-stream` body: bytes → text → events (eventsource-parser), with a watchdog
 * that cuts a connection that has gone silent. A half-open TCP connection (a cable pulled, a NAT
 * entry expired) never errors by itself; the server's heartbeats are what tell a live connection
 * from a dead one, so the watchdog must be longer than the heartbeat interval.
 */
import { ErrorCode, StateStreamError } from '@statestream/common'
import { createParser } from 'eventsource-parser'
import type { EventSourceMessage } from 'eventsource-parser'
import type { Dispatcher } from 'undici'

/** One server-sent event: its name (`message` when unnamed), data text and id. */
export interface SseEvent {
  event: string
  data: string
  id: string | undefined
}

/**
 * Feeds every event of `body` to `onEvent` until the body ends (resolves) or fails (rejects).
 * Silence longer than `watchdogMs` destroys the body and rejects with a `NETWORK` error. The body
 * is always consumed or destroyed when this returns. `onEvent` may throw to stop reading: the
 * body is destroyed and the error passed on.
 */
export async function readSse(
  body: Dispatcher.ResponseData['body'],
  onEvent: (event: SseEvent) => void,
  watchdogMs: number,
): Promise<void> {
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
  const decoder = new TextDecoder()
  let timer: NodeJS.Timeout | undefined
  const arm = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      body.destroy(new StateStreamError(ErrorCode.NETWORK, `no data for ${watchdogMs} ms: the connection is presumed dead`))
    }, watchdogMs)
  }
  arm()
  try {
    for await (const chunk of body) {
      arm()
      parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }))
      if (failure !== undefined) throw failure
    }
    parser.feed(decoder.decode())
    if (failure !== undefined) throw failure
  } catch (err) {
    body.destroy()
    throw err
  } finally {
    clearTimeout(timer)
  }
}
