/**
 * The export format: NDJSON that carries every stream exactly, so an import rebuilds the same
 * history. A state stream keeps its entries with their seq and ts, its creation time and snapshot
 * policy (hence the same windows); a plain stream keeps its content type and its messages (JSON
 * messages as they are, bytes in base64); every stream keeps its expiry and its closed flag.
 *
 *   {"statestream":"export","version":1}                                  first line, once
 *   {"stream":"weather/a","kind":"state","createdAt":1700000000000,       one per stream
 *    "snapshot":{"entries":1000,"bytes":1048576,"ms":60000},"closed":false,"seq":3}
 *   {"seq":1,"ts":1700000000100,"m":{"merge":{"t":21.5}}}                 its entries, in seq order
 *   {"end":"weather/a","entries":3}                                       after its last entry
 *
 *   {"stream":"raw/a","kind":"plain","contentType":"application/octet-stream","closed":true,"seq":2}
 *   {"seq":2,"b64":"AAEC/w=="}                                            bytes up to message 2
 *   {"stream":"log/a","kind":"plain","contentType":"application/json","closed":false,"seq":1}
 *   {"seq":1,"json":{"level":"info"}}                                     one JSON message
 *
 * Optional on any stream header: `ttlSeconds` (its `Stream-TTL`) or `expiresAt` (ms). A bytes
 * line holds the messages after the previous line's seq up to its own, concatenated, as the server
 * reads them out. A stream's `end` line (`entries`: how many lines of it came before) is written
 * after its last line, so a file cut short is told apart from a complete one. Parsing is strict: a
 * line that is none of these is an error naming what is wrong.
 */
import type { Entry, Json, Mutation, SnapshotPolicy } from '@statestream/client'

/** Version of the format this code writes and reads. */
export const EXPORT_VERSION = 1

/** The first line of every export. */
export interface ExportHeader {
  statestream: 'export'
  version: number
}

/** What every stream header carries. */
interface HeaderBase {
  stream: string
  closed: boolean
  /** The seq of its last message when the export began. */
  seq: number
  /** `Stream-TTL`, seconds, if it has one. */
  ttlSeconds?: number
  /** `Stream-Expires-At`, ms since the epoch, if it has one. */
  expiresAt?: number
}

/** The line that starts a state stream. */
export interface StateHeader extends HeaderBase {
  kind: 'state'
  /** `application/json`, with any parameters it was created with; absent means exactly that. */
  contentType?: string
  /** The time of the stream's creation (its seq-0 snapshot), ms. */
  createdAt: number
  snapshot: SnapshotPolicy
}

/** The line that starts a plain stream. */
export interface PlainHeader extends HeaderBase {
  kind: 'plain'
  contentType: string
}

/** The line that starts a stream. */
export type StreamHeader = StateHeader | PlainHeader

/** A plain stream's data line: one JSON message, or bytes of the messages up to `seq`. */
export type PlainLine = { seq: number; json: Json } | { seq: number; bytes: Buffer }

/** The line after a stream's last line. */
export interface StreamEnd {
  end: string
  entries: number
}

/** One line of an export, parsed. */
export type ExportLine =
  | { type: 'header'; value: ExportHeader }
  | { type: 'stream'; value: StreamHeader }
  | { type: 'entry'; value: Entry }
  | { type: 'plain'; value: PlainLine }
  | { type: 'end'; value: StreamEnd }

/** True when a plain stream of `contentType` holds JSON messages (else bytes). */
export function isJsonType(contentType: string): boolean {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase() === 'application/json'
}

/** The first line, as written. */
export function headerLine(): string {
  return JSON.stringify({ statestream: 'export', version: EXPORT_VERSION } satisfies ExportHeader)
}

/** An entry's line: `seq`, `ts`, then the mutation exactly as the server stores it. */
export function entryLine(entry: Entry): string {
  return `{"seq":${entry.seq},"ts":${entry.ts},"m":${JSON.stringify(entry.m)}}`
}

/** A JSON message's line. */
export function jsonLine(seq: number, message: Json): string {
  return `{"seq":${seq},"json":${JSON.stringify(message)}}`
}

/** A bytes line: the messages up to `seq`. */
export function bytesLine(seq: number, bytes: Uint8Array): string {
  return `{"seq":${seq},"b64":"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"}`
}

/** Parses one line of an export; throws a message naming what is wrong. */
export function parseExportLine(text: string): ExportLine {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new Error(`not JSON (${(err as Error).message})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object')
  const line = value as Record<string, unknown>
  if ('m' in line) {
    if (!isCount(line.seq) || line.seq < 1 || !isCount(line.ts) || !isMutation(line.m)) {
      throw new Error('an entry needs a seq ≥ 1, a ts in ms and a mutation m')
    }
    return { type: 'entry', value: { seq: line.seq, ts: line.ts, m: line.m } }
  }
  if ('json' in line || 'b64' in line) {
    if (!isCount(line.seq) || line.seq < 1) throw new Error('a message line needs a seq ≥ 1')
    if ('json' in line) return { type: 'plain', value: { seq: line.seq, json: line.json as Json } }
    if (typeof line.b64 !== 'string' || !BASE64.test(line.b64) || line.b64 === '') throw new Error('"b64" must be non-empty base64')
    return { type: 'plain', value: { seq: line.seq, bytes: Buffer.from(line.b64, 'base64') } }
  }
  if (typeof line.stream === 'string') return { type: 'stream', value: parseStreamHeader(line, line.stream) }
  if (typeof line.end === 'string') {
    if (!isCount(line.entries)) throw new Error('an end line needs the count of entries')
    return { type: 'end', value: { end: line.end, entries: line.entries } }
  }
  if (line.statestream === 'export') {
    if (line.version !== EXPORT_VERSION) throw new Error(`export format version ${String(line.version)} (this statestream reads ${EXPORT_VERSION})`)
    return { type: 'header', value: { statestream: 'export', version: EXPORT_VERSION } }
  }
  throw new Error('not a line of a statestream export')
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function parseStreamHeader(line: Record<string, unknown>, stream: string): StreamHeader {
  const bad = (what: string) => new Error(`the header of stream "${stream}" ${what}`)
  if (line.kind !== 'state' && line.kind !== 'plain') throw bad(`has kind ${JSON.stringify(line.kind)}: it must be "state" or "plain"`)
  if (typeof line.closed !== 'boolean' || !isCount(line.seq)) throw bad('needs closed and seq')
  if (line.ttlSeconds !== undefined && !isCount(line.ttlSeconds)) throw bad('has a ttlSeconds that is not a count of seconds')
  if (line.expiresAt !== undefined && !isCount(line.expiresAt)) throw bad('has an expiresAt that is not a time in ms')
  if (line.ttlSeconds !== undefined && line.expiresAt !== undefined) throw bad('has both ttlSeconds and expiresAt')
  if (line.contentType !== undefined && (typeof line.contentType !== 'string' || line.contentType === '')) throw bad('has an empty contentType')
  const base = {
    stream,
    closed: line.closed,
    seq: line.seq,
    ...(line.ttlSeconds !== undefined && { ttlSeconds: line.ttlSeconds }),
    ...(line.expiresAt !== undefined && { expiresAt: line.expiresAt }),
  }
  if (line.kind === 'plain') {
    if (typeof line.contentType !== 'string') throw bad('needs a contentType')
    return { ...base, kind: 'plain', contentType: line.contentType }
  }
  const snapshot = line.snapshot as Record<string, unknown> | undefined
  if (
    !isCount(line.createdAt) ||
    typeof snapshot !== 'object' ||
    snapshot === null ||
    !isCount(snapshot.entries) ||
    !isCount(snapshot.bytes) ||
    !isCount(snapshot.ms)
  ) {
    throw bad('needs createdAt and a snapshot policy (entries, bytes, ms)')
  }
  if (typeof line.contentType === 'string' && !isJsonType(line.contentType)) throw bad('is a state stream: its contentType must be application/json')
  return {
    ...base,
    kind: 'state',
    ...(typeof line.contentType === 'string' && { contentType: line.contentType }),
    createdAt: line.createdAt,
    snapshot: { entries: snapshot.entries, bytes: snapshot.bytes, ms: snapshot.ms },
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isMutation(value: unknown): value is Mutation {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const keys = Object.keys(value)
  return keys.length === 1 && (keys[0] === 'patch' || keys[0] === 'merge' || keys[0] === 'set')
}
