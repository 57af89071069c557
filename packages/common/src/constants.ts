/**
 * Routes, query parameters, header names, limits and defaults: the one place the wire contract's
 * names are spelled. Server and client both import from here.
 */

/** URL prefixes of every route. A stream name follows the prefix, e.g. `/v1/window/weather/a`. */
export const ROUTES = {
  stream: '/v1/stream/',
  window: '/v1/window/',
  windows: '/v1/windows/',
  state: '/v1/state/',
  live: '/v1/live/',
  liveMulti: '/v1/live',
  health: '/health',
  /** Readiness: the store answers and the server is not shutting down. */
  ready: '/ready',
  /** Prometheus metrics. */
  metrics: '/metrics',
  /** The list of streams, paged (`?prefix=&limit=&cursor=`). */
  streams: '/v1/streams',
  /** The web timeline inspector (a static page and its bundle, below `/inspector/`). */
  inspector: '/inspector',
} as const

/** Query parameter names. */
export const QUERY = {
  offset: 'offset',
  live: 'live',
  cursor: 'cursor',
  at: 'at',
  seq: 'seq',
  after: 'after',
  /** On a live resume: the start of the window the reader holds, `<seq>.<ts>` (`<name>@<seq>.<ts>` on the multiplexed route). */
  window: 'window',
  from: 'from',
  to: 'to',
  stream: 'stream',
  prefix: 'prefix',
  limit: 'limit',
  gpos: 'gpos',
} as const

/** Values of the `live` query parameter on `/v1/stream/<name>`. */
export const LIVE_MODE = { longPoll: 'long-poll', sse: 'sse' } as const

/** The `at` value meaning "the head of the log". */
export const AT_NOW = 'now'

/** HTTP header names (lower case, as Node presents them). */
export const HEADERS = {
  contentType: 'content-type',
  streamKind: 'stream-kind',
  streamNextOffset: 'stream-next-offset',
  streamUpToDate: 'stream-up-to-date',
  streamCursor: 'stream-cursor',
  streamSeq: 'stream-seq',
  streamTtl: 'stream-ttl',
  streamExpiresAt: 'stream-expires-at',
  /** On a `PUT`: the creation time of the new stream (its seq-0 snapshot), ms; an import sets it. */
  streamCreatedAt: 'stream-created-at',
  /** `true`: the stream is closed (on a request: close it). Durable Streams §4.1. */
  streamClosed: 'stream-closed',
  /** On a `PUT`: create the stream as a fork of this stream path. */
  forkedFrom: 'stream-forked-from',
  /** On a fork's `PUT`: the source offset it branches at (default: the source's tail). */
  forkOffset: 'stream-fork-offset',
  /** On a fork's `PUT`: messages (JSON) or bytes (others) past `Stream-Fork-Offset` the fork also inherits. */
  forkSubOffset: 'stream-fork-sub-offset',
  /** On a fork's `PUT`: branch after the source's last entry with `ts` at most this (ms); statestream's extension. */
  forkAt: 'stream-fork-at',
  /** On a `live=sse` response: `base64` when data events carry a binary stream's bytes so encoded. */
  sseDataEncoding: 'stream-sse-data-encoding',
  snapshotEntries: 'stream-snapshot-entries',
  snapshotBytes: 'stream-snapshot-bytes',
  snapshotMs: 'stream-snapshot-ms',
  producerId: 'producer-id',
  producerEpoch: 'producer-epoch',
  producerSeq: 'producer-seq',
  producerExpectedSeq: 'producer-expected-seq',
  producerReceivedSeq: 'producer-received-seq',
  etag: 'etag',
  ifNoneMatch: 'if-none-match',
  cacheControl: 'cache-control',
  lastEventId: 'last-event-id',
  retryAfter: 'retry-after',
  location: 'location',
} as const

/** The `Stream-Kind` value that makes a JSON stream a state stream. */
export const STATE_KIND = 'state'

/** Content type of JSON streams; a state stream always has it. */
export const JSON_CONTENT_TYPE = 'application/json'

/** Sentinel offsets of the Durable Streams protocol. */
export const OFFSET_START = '-1'
export const OFFSET_NOW = 'now'

/** `Cache-Control` of immutable answers (closed windows). */
export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable'
/** `Cache-Control` of answers that change as the log grows. */
export const CACHE_NO_STORE = 'no-store'

/** SSE event names of `/v1/live`. */
export const LIVE_EVENTS = {
  window: 'window',
  entry: 'entry',
  bound: 'bound',
  clock: 'clock',
  heartbeat: 'heartbeat',
  error: 'error',
  deleted: 'deleted',
} as const

/**
 * Separates a stream name from a resume point in a `stream` parameter of the multiplexed
 * `/v1/live`: `stream=<name>@<seq>` means "this reader holds <name> up to entry <seq>". Stream
 * names cannot contain it, so the split is unambiguous.
 */
export const STREAM_RESUME_SEPARATOR = '@'

/**
 * Most entries a multiplexed `<name>@<seq>` resume sends as catch-up; a reader further behind gets
 * the stream's open window instead, so opening a connection stays one bounded read per stream.
 */
export const LIVE_RESUME_MAX_ENTRIES = 1000

/** Limits of stream names (§1 of the design). */
export const STREAM_NAME_MAX_BYTES = 512

/** Default snapshot policy: whichever of these comes first (§1 of the design). */
export const DEFAULT_SNAPSHOT_POLICY = {
  /** Entries since the last snapshot. */
  entries: 1000,
  /** Bytes of mutations (their JSON text) since the last snapshot. */
  bytes: 1024 * 1024,
  /** Milliseconds of stream time (entry `ts`) since the last snapshot. */
  ms: 60_000,
} as const

/**
 * Deepest nesting of arrays and objects in a JSON request body, and in any state a mutation
 * produces (`JSON_TOO_DEEP`). `1` nests 0 levels, `{"a":1}` one, `[{"set":{"a":1}}]` three.
 */
export const MAX_JSON_DEPTH = 256

/** Most members of one object or array in a JSON request body (`JSON_TOO_MANY_MEMBERS`). */
export const MAX_JSON_MEMBERS = 100_000

/** Default largest accepted request body, in bytes: 10 MiB, as the Durable Streams reference server. */
export const DEFAULT_BODY_LIMIT = 10 * 1024 * 1024

/** Default and largest page of `GET /v1/streams`. */
export const STREAM_LIST_DEFAULT_LIMIT = 100
export const STREAM_LIST_MAX_LIMIT = 1000

/** Default port of the standalone server (the Durable Streams port). */
export const DEFAULT_PORT = 4437
