/** Producer fencing of the Durable Streams protocol (idempotent producers). */
import { ErrorCode, StateStreamError } from '@statestream/common'
import type { Producer } from './stream-types.ts'

/** What the store holds of one producer of one stream. */
export interface ProducerRow {
  epoch: number
  last_seq: number
}

/**
 * Checks a request's producer headers against the producer's stored state (`undefined` for a new
 * producer). Returns the state to echo when the request is a duplicate (already stored), nothing
 * when it is the next one; throws on a stale epoch or a sequence gap.
 */
export function fenceProducer(state: ProducerRow | undefined, producer: Producer): { epoch: number; seq: number } | undefined {
  if (state === undefined || producer.epoch > state.epoch) {
    if (producer.seq !== 0) {
      if (state === undefined) throw seqGap(0, producer.seq)
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'a new producer epoch must start at Producer-Seq 0')
    }
    return undefined
  }
  if (producer.epoch < state.epoch) {
    throw new StateStreamError(ErrorCode.PRODUCER_STALE_EPOCH, `producer epoch ${producer.epoch} is stale`, {
      headers: { 'producer-epoch': String(state.epoch) },
    })
  }
  if (producer.seq <= state.last_seq) return { epoch: state.epoch, seq: state.last_seq }
  if (producer.seq > state.last_seq + 1) throw seqGap(state.last_seq + 1, producer.seq)
  return undefined
}

function seqGap(expected: number, received: number): StateStreamError {
  return new StateStreamError(ErrorCode.PRODUCER_SEQ_GAP, `expected Producer-Seq ${expected}, got ${received}`, {
    headers: { 'producer-expected-seq': String(expected), 'producer-received-seq': String(received) },
  })
}

/**
 * On a closed stream: the duplicate answer when `producer`'s request is one already stored (a
 * retry of the closing append, say), else `undefined` (the append is refused as closed). A stale
 * epoch is still its 403.
 */
export function fenceClosed(state: ProducerRow | undefined, producer: Producer): { epoch: number; seq: number } | undefined {
  try {
    return fenceProducer(state, producer)
  } catch (error) {
    if ((error as { code?: unknown }).code === ErrorCode.PRODUCER_STALE_EPOCH) throw error
    return undefined
  }
}
