/**
 * The data the store hands out and takes in: stream metadata, write requests and outcomes, the
 * entries and events readers get. Plain types only, shared by the store, the routes and the live
 * hub.
 */
import type { Bound, SnapshotPolicy } from '@statestream/common'

/** `plain`: bytes or JSON messages, uninterpreted. `state`: every message is a mutation. */
export type StreamKind = 'plain' | 'state'

/** A stream's metadata, as `HEAD` reports it. */
export interface StreamInfo {
  id: number
  name: string
  contentType: string
  kind: StreamKind
  createdTs: number
  headSeq: number
  headTs: number
  totalBytes: number
  ttlSeconds: number | null
  expiresAt: number | null
  /** Last read or write (ms): a `Stream-TTL` stream expires `ttlSeconds` after it (a sliding window). */
  touchedTs: number
  policy: SnapshotPolicy
  lastStreamSeq: string | null
}

/** The stream-specific part of a create request. */
export interface CreateStream {
  name: string
  contentType: string
  kind: StreamKind
  ttlSeconds?: number
  expiresAt?: number
  policy?: Partial<SnapshotPolicy>
  /** First content (bytes, or a JSON message / array of messages for JSON streams). */
  body?: Buffer
}

/** An idempotent producer's headers. */
export interface Producer {
  id: string
  epoch: number
  seq: number
}

/** An append request. */
export interface AppendRequest {
  name: string
  /** The request's media type; must match the stream's. */
  contentType: string
  body: Buffer
  streamSeq?: string
  producer?: Producer
}

/** The outcome of an append. */
export interface AppendResult {
  /** `duplicate`: an idempotent producer's retry of a request already stored. */
  status: 'appended' | 'duplicate'
  headSeq: number
  headTs: number
  producer?: { epoch: number; seq: number }
}

/** One stored entry as the store hands it to readers: `data` is the stored text or bytes. */
export interface StoredEntry {
  seq: number
  ts: number
  gpos: number
  data: string | Buffer
}

/** What readers are told after each commit. */
export type StoreEvent =
  | { type: 'append'; stream: StreamInfo; entries: StoredEntry[]; snapshots: Bound[] }
  | { type: 'delete'; stream: StreamInfo }

/** A stream as the store caches it: metadata plus its last snapshot. */
export interface StreamRecord extends StreamInfo {
  lastSnapshot: { seq: number; ts: number; cumBytes: number }
}

/** A row of the `streams` table. */
export interface StreamRow {
  id: number
  name: string
  content_type: string
  kind: StreamKind
  created_ts: number
  ttl_seconds: number | null
  expires_at: number | null
  snap_entries: number
  snap_bytes: number
  snap_ms: number
  head_seq: number
  head_ts: number
  total_bytes: number
  last_stream_seq: string | null
  touched_ts: number | null
}

/** Media type without parameters, lower-cased: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase()
}
