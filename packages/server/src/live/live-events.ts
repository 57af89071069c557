/**
 * The wire text of every server-sent event the live routes emit — the one place their format is
 * spelled. A reader of `/v1/live` depends on exactly these shapes:
 *
 *   event: window     id: <last seq> (one stream) | <gpos> (many)   data: the open window JSON
 *   event: entry      id: <seq> | <gpos>   data: {"seq","ts","m"} | {"stream","seq","ts","m","gpos"}
 *   event: bound      id: as its entry     data: {"seq","ts"[,"closed":true]} | {"stream","seq","ts"[,"closed":true]}
 *   event: heartbeat                       data: {"ts"}
 *   event: clock                           data: {"gpos","ts"}
 *   event: error                           data: {"error":{"code","message"}}
 *
 * Mutations are spliced in as the stored JSON text, never parsed and re-serialised.
 */
import { LIVE_EVENTS } from '@statestream/common'
import type { Bound, ErrorCode } from '@statestream/common'
import type { StoredEntry } from '../stream-types.ts'

const LINE_BREAK = /\r\n|\r|\n/

/**
 * One event: `event:`, optional `id:`, and `data:` lines (one per line of `data`). `dataPrefix`
 * is `data: ` on our routes and `data:` on the Durable Streams ones, as its reference server
 * writes them (SSE parsers accept both).
 */
export function sseEvent(event: string, data: string, id?: number | string, dataPrefix = 'data: '): string {
  const head = id === undefined ? `event: ${event}\n` : `event: ${event}\nid: ${id}\n`
  // JSON from the store has no raw line breaks; text streams may, and SSE needs one `data:` per line.
  if (!data.includes('\n') && !data.includes('\r')) return `${head}${dataPrefix}${data}\n\n`
  return `${head}${data
    .split(LINE_BREAK)
    .map((line) => `${dataPrefix}${line}\n`)
    .join('')}\n`
}

/** A Durable Streams SSE event (`data`, `control`). */
export function streamEvent(event: 'data' | 'control', data: string): string {
  return sseEvent(event, data, undefined, 'data:')
}

/** A comment line: ignored by every SSE parser, it keeps idle connections open through proxies. */
export const SSE_KEEPALIVE = ': keepalive\n\n'

/** `event: window` carrying a window JSON body. */
export function windowEvent(body: string, id?: number): string {
  return sseEvent(LIVE_EVENTS.window, body, id)
}

/**
 * `windowEvent` as bytes, written straight into one buffer: a window is up to megabytes, and
 * joining the event's text first would copy all of it once more before encoding it.
 */
export function windowEventBytes(body: string, id?: number): Buffer {
  if (body.includes('\n') || body.includes('\r')) return Buffer.from(windowEvent(body, id))
  const head = `event: ${LIVE_EVENTS.window}\n${id === undefined ? '' : `id: ${id}\n`}data: `
  const size = Buffer.byteLength(body)
  const bytes = Buffer.allocUnsafe(head.length + size + 2)
  bytes.write(head, 0, 'latin1')
  bytes.write(body, head.length, 'utf8')
  bytes.write('\n\n', head.length + size, 'latin1')
  return bytes
}

/** `event: entry` (and its `bound` when a snapshot closed the window at it) of `/v1/live/<name>`. */
export function entryEvent(entry: StoredEntry, closes: boolean): string {
  const text = sseEvent(LIVE_EVENTS.entry, `{"seq":${entry.seq},"ts":${entry.ts},"m":${entry.data as string}}`, entry.seq)
  return closes ? text + boundEvent(entry) : text
}

/**
 * `event: bound` of `/v1/live/<name>`: the open window closed at `bound`. With `closed`, the
 * stream itself is closed there: no window follows, and this is the response's last event.
 */
export function boundEvent(bound: Bound, closed = false): string {
  return sseEvent(LIVE_EVENTS.bound, `{"seq":${bound.seq},"ts":${bound.ts}${closed ? ',"closed":true' : ''}}`, bound.seq)
}

/** `event: entry` (and its `bound`) of the multiplexed `/v1/live?stream=…`; `stream` is JSON-quoted. */
export function multiEntryEvent(stream: string, entry: StoredEntry, closes: boolean, withId = true): string {
  const id = withId ? entry.gpos : undefined
  const text = sseEvent(LIVE_EVENTS.entry, `{"stream":${stream},"seq":${entry.seq},"ts":${entry.ts},"m":${entry.data as string},"gpos":${entry.gpos}}`, id)
  return closes ? text + multiBoundEvent(stream, entry, id) : text
}

/**
 * `event: bound` of the multiplexed `/v1/live?stream=…`: `stream`'s open window closed at `bound`
 * (the entry at `gpos`). Without `gpos` the event has no `id:`, so a reader's last id stays put.
 * With `closed`, the stream is closed there and nothing more of it follows.
 */
export function multiBoundEvent(stream: string, bound: Bound, gpos?: number, closed = false): string {
  return sseEvent(LIVE_EVENTS.bound, `{"stream":${stream},"seq":${bound.seq},"ts":${bound.ts}${closed ? ',"closed":true' : ''}}`, gpos)
}

/** The entry events of `entries`, each followed by its bound when `bounds` has its seq. */
export function entryEvents(entries: readonly StoredEntry[], bounds: readonly Bound[]): string {
  const closing = new Set(bounds.map((bound) => bound.seq))
  return entries.map((entry) => entryEvent(entry, closing.has(entry.seq))).join('')
}

/** `event: heartbeat`. */
export function heartbeatEvent(ts: number): string {
  return sseEvent(LIVE_EVENTS.heartbeat, `{"ts":${ts}}`)
}

/** `event: clock`: the server has advanced to `gpos` at `ts`. */
export function clockEvent(gpos: number, ts: number, id?: number): string {
  return sseEvent(LIVE_EVENTS.clock, `{"gpos":${gpos},"ts":${ts}}`, id)
}

/** `event: error`, the last event of a response. */
export function errorEvent(code: ErrorCode, message: string): string {
  return sseEvent(LIVE_EVENTS.error, JSON.stringify({ error: { code, message } }))
}

/**
 * Durable Streams `event: control` after each `event: data` (protocol §5.8). Once the reader has
 * everything of a closed stream it says `streamClosed` (and, as no reconnect follows, no cursor).
 */
export function controlEvent(nextOffset: string, cursor: string, upToDate: boolean, closed = false): string {
  if (closed) return streamEvent('control', `{"streamNextOffset":"${nextOffset}","upToDate":true,"streamClosed":true}`)
  const flag = upToDate ? ',"upToDate":true' : ''
  return streamEvent('control', `{"streamNextOffset":"${nextOffset}","streamCursor":"${cursor}"${flag}}`)
}
