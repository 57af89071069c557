/**
 * What a failure of the database means to a client: the database being away (a restart, a lost
 * connection, a timeout, too many connections) is `503 STORE_UNAVAILABLE`, to be retried; a
 * statement the database refused is a fault of ours (`500 INTERNAL`). Neither carries the
 * database's own text over the wire; the cause is kept for the log.
 */
import pg from 'pg'
import { ErrorCode, StateStreamError } from '@statestream/common'

/** A client waits at least this long before retrying (`Retry-After`, seconds). */
const RETRY_AFTER_S = '1'

/**
 * SQLSTATE classes and codes of a database that is away or would not wait, not of a statement
 * that was wrong: connection exceptions (08), transaction rollbacks (40: serialization, deadlock),
 * insufficient resources (53), operator intervention (57: shutdown, termination, cancel,
 * timeouts), a lock not granted in time, a transaction ended for idling.
 */
const UNAVAILABLE_CLASSES = ['08', '40', '53', '57']
const UNAVAILABLE_STATES = new Set(['55P03', '25P03'])

/** True when `error` says the database is unreachable or would not wait (worth a retry). */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) {
    const state = error.code ?? ''
    return UNAVAILABLE_STATES.has(state) || UNAVAILABLE_CLASSES.includes(state.slice(0, 2))
  }
  if (!(error instanceof Error)) return false
  // A socket's error (ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, …).
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true
  // The driver's own: "Connection terminated unexpectedly", "timeout exceeded when trying to
  // connect", "Query read timeout", "Client has encountered a connection error and is not queryable".
  return /connection|terminated|timeout|not queryable/i.test(error.message)
}

/** The error a read gets when the database failed it (other errors pass as they are). */
export function readFailure(error: unknown): unknown {
  if (error instanceof StateStreamError || !isUnavailable(error)) return error
  return new StateStreamError(ErrorCode.STORE_UNAVAILABLE, 'the database does not answer; retry', { cause: error, headers: { 'retry-after': RETRY_AFTER_S } })
}

/** The error of a write whose group failed before it could commit: it was not stored. */
export function notStored(error: unknown): StateStreamError {
  if (error instanceof StateStreamError) return error
  if (isUnavailable(error)) {
    return new StateStreamError(ErrorCode.STORE_UNAVAILABLE, 'the database does not answer; the write was not stored: retry', {
      cause: error,
      headers: { 'retry-after': RETRY_AFTER_S },
    })
  }
  return new StateStreamError(ErrorCode.INTERNAL, 'the database could not store this write; it was not stored', { cause: error })
}

/**
 * The error of a write whose group lost its connection after sending COMMIT and before its
 * answer: the database may have committed it or not, and nothing here can tell which.
 */
export function outcomeUnknown(error: unknown): StateStreamError {
  return new StateStreamError(
    ErrorCode.STORE_UNAVAILABLE,
    'the connection to the database was lost as the write committed: its outcome is unknown (it may have been stored); an idempotent producer may retry safely',
    { cause: error, headers: { 'retry-after': RETRY_AFTER_S } },
  )
}
