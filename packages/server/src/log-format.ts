/**
 * How log entries look on the Durable Streams routes. A JSON stream's read is a JSON array of its
 * messages; a state stream's message is its mutation with the `ts` the server assigned, so what a
 * reader gets back is a valid message that replays to the same history. Other streams' entries are
 * their bytes, concatenated.
 */
import { encodeOffset } from '@statestream/common'
import type { StoredEntry, StreamInfo } from './stream-types.ts'
import { mediaType } from './stream-types.ts'

/** True when the stream's messages are JSON (a JSON-mode stream). */
export function isJsonStream(info: StreamInfo): boolean {
  return mediaType(info.contentType) === 'application/json'
}

/** One entry as a JSON message text. */
export function messageText(info: StreamInfo, entry: StoredEntry): string {
  const text = entry.data as string
  // The stored mutation is an object text: splice the ts in before its closing brace.
  return info.kind === 'state' ? `${text.slice(0, -1)},"ts":${entry.ts}}` : text
}

/** The body of a read of `entries`. */
export function renderEntries(info: StreamInfo, entries: readonly StoredEntry[]): string | Buffer {
  if (isJsonStream(info)) return `[${entries.map((entry) => messageText(info, entry)).join(',')}]`
  return Buffer.concat(entries.map((entry) => (typeof entry.data === 'string' ? Buffer.from(entry.data) : entry.data)))
}

/** Offset after the last of `entries`, or `fallback` when there are none. */
export function offsetAfter(entries: readonly StoredEntry[], fallback: number): string {
  const last = entries[entries.length - 1]
  return encodeOffset(last ? last.seq : fallback)
}
