/**
 * The data the store hands out and takes in: stream metadata, write requests and outcomes, the
 * entries and events readers get. Plain types only, shared by the store, the routes and the live
 * hub.
 */
import type { Bound, SnapshotPolicy } from '@statestream/common'
import type { Segment } from './lineage.ts'

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
  /** Closed: its content is final, appends are refused (Durable Streams stream closure). */
  closed: boolean
  /** Where its log lives: the segments of its sources it reads through, then its own (`lineage.ts`). */
  segments: readonly Segment[]
  /** For a fork: its source's id and the point it was forked at. */
  fork: ForkPoint | null
}

/** Where a fork branches off its source. */
export interface ForkPoint {
  /** The source stream's id. */
  sourceId: number
  /** The fork inherits the source's entries up to this seq. */
  seq: number
  /** Bytes of the source's next entry the fork copied as its own first entry (a byte sub-offset), or 0. */
  prefix: number
}

/** What a fork is made from: a source and where in it. */
export interface ForkRequest {
  /** The source stream's name. */
  source: string
  /** Fork after this seq (the `Stream-Fork-Offset`); the source's head when neither this nor `at` is given. */
  offset?: number
  /** Past `offset`: messages of a JSON stream, bytes of the next entry of any other (`Stream-Fork-Sub-Offset`). */
  subOffset?: number
  /** Fork after the last entry with `ts ≤ at` (`Stream-Fork-At`, ms). */
  at?: number
}

/** The stream-specific part of a create request. */
export interface CreateStream {
  name: string
  /** The stream's media type. A fork inherits its source's when this is not given. */
  contentType?: string
  /** `state` makes a JSON stream a state stream. A fork inherits its source's kind when not given. */
  kind?: StreamKind
  ttlSeconds?: number
  expiresAt?: number
  /**
   * When the stream began (its seq-0 snapshot; the ts its entries may not precede), ms; not
   * later than now. Default: now. An import sets it to rebuild a stream exactly.
   */
  createdAt?: number
  policy?: Partial<SnapshotPolicy>
  /** First content (bytes, or a JSON message / array of messages for JSON streams). */
  body?: Buffer
  /** Create the stream closed (after `body`, its whole content). */
  closed?: boolean
  /** Create the stream as a fork. */
  fork?: ForkRequest
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
  /** The request's media type; must match the stream's (not looked at for a close without a body). */
  contentType?: string
  /** May be empty only when `closed` (a close without an append). */
  body: Buffer
  streamSeq?: string
  producer?: Producer
  /** Close the stream with this append (`Stream-Closed: true`). */
  closed?: boolean
  /** The writer expects a state stream (`Stream-Kind: state`): any other is refused. */
  kind?: 'state'
}

/** The outcome of an append. */
export interface AppendResult {
  /** `duplicate`: an idempotent producer's retry of a request already stored (or a repeated close). */
  status: 'appended' | 'duplicate'
  headSeq: number
  headTs: number
  producer?: { epoch: number; seq: number }
  /** The stream is closed now (by this request or before). */
  closed: boolean
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
  /** The stream was closed; `bound` is its end (its last entry, or its creation when it has none). */
  | { type: 'close'; stream: StreamInfo; bound: Bound }

/** A stream as the store caches it: metadata plus its last snapshot. */
export interface StreamRecord extends StreamInfo {
  /** Deleted while forks still read through it: gone for its own readers (410), kept for theirs. */
  deleted: boolean
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
  closed: number
  deleted: number
  fork_of: number | null
  fork_seq: number | null
  fork_snap_seq: number | null
  fork_prefix: number | null
  /**
   * The stream's last snapshot, where its engine keeps it with the head (PostgreSQL: a replica
   * learns the whole head from one row). SQLite finds it in `snapshots`.
   */
  snap_seq?: number
  snap_ts?: number
  snap_cum_bytes?: number
}

/** Media type without parameters, lower-cased: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase()
}
