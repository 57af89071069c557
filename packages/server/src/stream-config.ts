/**
 * A stream's configuration and life, decided without I/O: what a create request asks for once
 * defaults and a fork's inheritance are filled in, whether an existing stream matches it (a `PUT`
 * of an existing stream is idempotent only then), and whether a stream is alive.
 */
import { ErrorCode, StateStreamError, encodeOffset } from '@statestream/common'
import type { SnapshotPolicy } from '@statestream/common'
import type { CreateStream, StreamInfo, StreamKind } from './stream-types.ts'
import { mediaType } from './stream-types.ts'

/** Everything a `PUT` fixes about a stream. */
export interface StreamConfig {
  contentType: string
  kind: StreamKind
  ttlSeconds: number | null
  expiresAt: number | null
  /** Compared for state streams only. */
  policy: SnapshotPolicy
  closed: boolean
  /** The creation time asked for, when one was (compared only then). */
  createdAt?: number
  /**
   * For a fork: its source and, when the request named one, the point (`seq`, and the bytes of the
   * next entry it copies). A request that names no point matches a fork made at any point.
   */
  fork: { sourceId: number; point?: { seq: number; prefix: number } } | null
}

/** What a create request gives; everything else comes from defaults or the fork's source. */
export interface RequestedConfig {
  contentType?: string
  kind?: StreamKind
  ttlSeconds?: number
  expiresAt?: number
  policy?: Partial<SnapshotPolicy>
  closed?: boolean
  createdAt?: number
}

/** Media type of a stream created without a `Content-Type` (Durable Streams §5.1). */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream'

/**
 * The configuration a request asks for. A fork inherits its source's content type, kind and
 * snapshot policy where the request is silent, and its expiry by Durable Streams §4.2: a fork
 * asking for none gets its source's TTL or `Expires-At`, one asking for either gets its own.
 */
export function requestedConfig(
  request: RequestedConfig,
  defaults: SnapshotPolicy,
  fork?: { source: StreamInfo; point?: { seq: number; prefix: number } },
): StreamConfig {
  const source = fork?.source
  const ownExpiry = request.ttlSeconds !== undefined || request.expiresAt !== undefined
  return {
    contentType: request.contentType ?? source?.contentType ?? DEFAULT_CONTENT_TYPE,
    kind: request.kind ?? source?.kind ?? 'plain',
    ttlSeconds: ownExpiry ? (request.ttlSeconds ?? null) : (source?.ttlSeconds ?? null),
    expiresAt: ownExpiry ? (request.expiresAt ?? null) : (source?.expiresAt ?? null),
    policy: { ...(source?.policy ?? defaults), ...request.policy },
    closed: request.closed ?? false,
    ...(request.createdAt !== undefined && { createdAt: request.createdAt }),
    fork: source === undefined ? null : { sourceId: source.id, ...(fork?.point && { point: fork.point }) },
  }
}

/** Returns `config`, or refuses one no stream may have (as `request` asked it). */
export function checkConfig(config: StreamConfig, request: CreateStream): StreamConfig {
  if (config.kind === 'state' && mediaType(config.contentType) !== 'application/json') {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'a state stream needs Content-Type: application/json')
  }
  if (config.kind !== 'state' && request.policy !== undefined && Object.keys(request.policy).length > 0) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'a snapshot policy applies to state streams only')
  }
  return config
}

/** True when the existing stream `info` is what `config` asks for (media types compare without parameters). */
export function sameConfig(info: StreamInfo, config: StreamConfig): boolean {
  if (mediaType(info.contentType) !== mediaType(config.contentType)) return false
  if (info.kind !== config.kind || info.closed !== config.closed) return false
  if (config.createdAt !== undefined && info.createdTs !== config.createdAt) return false
  if (info.ttlSeconds !== config.ttlSeconds || info.expiresAt !== config.expiresAt) return false
  if (info.kind === 'state' && !samePolicy(info.policy, config.policy)) return false
  if ((info.fork === null) !== (config.fork === null)) return false
  if (info.fork !== null && config.fork !== null) {
    if (info.fork.sourceId !== config.fork.sourceId) return false
    const point = config.fork.point
    if (point !== undefined && (point.seq !== info.fork.seq || point.prefix !== info.fork.prefix)) return false
  }
  return true
}

function samePolicy(a: SnapshotPolicy, b: SnapshotPolicy): boolean {
  return a.entries === b.entries && a.bytes === b.bytes && a.ms === b.ms
}

/** True once a stream's `Stream-Expires-At` has passed, or its `Stream-TTL` since its last read or write. */
export function isExpired(info: Pick<StreamInfo, 'expiresAt' | 'ttlSeconds' | 'touchedTs'>, now: number): boolean {
  if (info.expiresAt !== null && now >= info.expiresAt) return true
  return info.ttlSeconds !== null && now >= info.touchedTs + info.ttlSeconds * 1000
}

/** The creation time of a new stream at `now`: now, or the earlier time the request gives. */
export function creationTime(request: Pick<CreateStream, 'createdAt'>, now: number): number {
  if (request.createdAt === undefined) return now
  if (request.createdAt > now) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `Stream-Created-At ${request.createdAt} is in the future (now is ${now})`)
  }
  return request.createdAt
}

/** The refusal of an append to a closed stream, with the headers a writer needs (Durable Streams §5.2). */
export function closedError(info: Pick<StreamInfo, 'name' | 'headSeq'>): StateStreamError {
  return new StateStreamError(ErrorCode.STREAM_CLOSED, `stream "${info.name}" is closed: its content is final`, {
    headers: { 'stream-closed': 'true', 'stream-next-offset': encodeOffset(info.headSeq) },
  })
}
