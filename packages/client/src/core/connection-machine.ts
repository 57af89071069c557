/**
 * The life of one live connection (a `live$` cursor, or a `client.live([...])`), as a complete
 * transition table over its status and events, with the effect the driver must carry out. Pure:
 * the driver passes the randomness and the clock in; it does the I/O and the timers.
 *
 *              start                  opened                synced (initial data complete)
 *     closed ───────► connecting ─────────────► (syncing) ──────────────────────────► live
 *       ▲   stop /        │                                                              │
 *       │   refused       │ dropped: wait a backoff                        dropped       │
 *       ├─────────────────┤                                                              │
 *       │                 ▼        elapsed: open again      opened, synced               ▼
 *       └─────────── reconnecting ◄──────────────────────────────────────────────────────┘
 *                         (waiting ─► opening ─► syncing ─► live)
 *
 * The count of consecutive failures sets the backoff. It goes back to 0 only once a connection
 * proved healthy: it delivered an entry after its initial data (`progress`), or stayed up for
 * `HEALTHY_AFTER_MS` after it (`healthy`, a timer the driver arms on `synced`). Opening, initial
 * data, heartbeats and error events prove nothing: a server that answers every live request with
 * an error, in-band or not, gets at most what the backoff schedule allows.
 */
import { backoffDelay } from './backoff.ts'
import type { BackoffOptions } from './backoff.ts'

/** Connection statuses as `status$` shows them. */
export const LiveStatus = {
  /** Opening the first connection. */
  connecting: 'connecting',
  /** Connected, its initial data complete: current as far as the server has told. */
  live: 'live',
  /** The connection dropped; waiting out the backoff or reconnecting. Held state stays valid. */
  reconnecting: 'reconnecting',
  /** Not tailing: no subscriber, a refusal, or the client closed. */
  closed: 'closed',
} as const
export type LiveStatus = (typeof LiveStatus)[keyof typeof LiveStatus]

/** Where an attempt is: waiting out a backoff, waiting for the answer, or reading the initial data. */
export type Phase = 'waiting' | 'opening' | 'syncing'

/** The state of a connection. `failures`: consecutive failures since the last healthy connection. */
export type Connection = { status: 'closed' } | Trying | { status: 'live'; failures: number }

/** A connection on its way: the first (`connecting`) or after a drop (`reconnecting`). */
export interface Trying {
  status: 'connecting' | 'reconnecting'
  phase: Phase
  failures: number
}

/** What can happen to a connection. */
export type ConnectionEvent =
  | { type: 'start' }
  /** The answer arrived (2xx, the event stream begins). */
  | { type: 'opened' }
  /** The initial data is complete. */
  | { type: 'synced' }
  /** An entry arrived after the initial data. */
  | { type: 'progress' }
  /** The connection stayed up `HEALTHY_AFTER_MS` after its initial data. */
  | { type: 'healthy' }
  /** It failed or ended, worth retrying; `random` in [0, 1), `floorMs` from a `Retry-After`. */
  | { type: 'dropped'; random: number; floorMs: number }
  /** The backoff is over. */
  | { type: 'elapsed' }
  /** It was refused, and `onError` gave new headers (or what was held was let go): open again at once. */
  | { type: 'renewed' }
  /** It was refused for good (or the stream is gone). */
  | { type: 'refused' }
  | { type: 'stop' }

export type ConnectionEventType = ConnectionEvent['type']

/** What the driver must do next. */
export type Effect =
  | { type: 'none' }
  /** Open a connection now. */
  | { type: 'open' }
  /** Wait `ms`, then send `elapsed`. */
  | { type: 'wait'; ms: number }
  /** Arm the health timer (`HEALTHY_AFTER_MS`), which sends `healthy`. */
  | { type: 'arm' }
  /** Report the refusal to the subscribers and close. */
  | { type: 'fail' }
  /** Close: end the connection, cancel the timers. */
  | { type: 'close' }

/** A step: the next state and its effect. */
export interface Step {
  state: Connection
  effect: Effect
}

type Rule<C extends Connection> = ((state: C, event: ConnectionEvent, backoff: BackoffOptions) => Step) | { impossible: string }
type Status = Connection['status']
type Rules<C extends Connection> = { [E in ConnectionEventType]: Rule<C> }
type Table = {
  closed: Rules<{ status: 'closed' }>
  connecting: Rules<Trying>
  reconnecting: Rules<Trying>
  live: Rules<{ status: 'live'; failures: number }>
}

const none: Effect = { type: 'none' }
const closed: Connection = { status: 'closed' }
const impossible = (why: string): { impossible: string } => ({ impossible: why })
const stay = <C extends Connection>(state: C): Step => ({ state, effect: none })
const stop = (): Step => ({ state: closed, effect: { type: 'close' } })
const refuse = (): Step => ({ state: closed, effect: { type: 'fail' } })

/** A failure: one more in a row, and a backoff that long (never shorter than the floor). */
function drop(failures: number, event: ConnectionEvent, backoff: BackoffOptions): Step {
  const { random, floorMs } = event as Extract<ConnectionEvent, { type: 'dropped' }>
  const next = failures + 1
  return { state: { status: 'reconnecting', phase: 'waiting', failures: next }, effect: { type: 'wait', ms: backoffDelay(next, random, backoff, floorMs) } }
}

/** The rules of a status that is trying (connecting or reconnecting). */
function trying(status: Trying['status']): Rules<Trying> {
  return {
    start: impossible('already started'),
    opened: (state) => (state.phase === 'opening' ? stay({ ...state, phase: 'syncing' }) : impossible_(status, 'opened', state.phase)),
    synced: (state) => {
      if (state.phase === 'waiting') return impossible_(status, 'synced', state.phase)
      return { state: { status: 'live', failures: state.failures }, effect: { type: 'arm' } }
    },
    // Catch-up entries of the initial data are not a sign of health.
    progress: stay,
    healthy: impossible('the health timer runs only while live'),
    dropped: (state, event, backoff) => drop(state.failures, event, backoff),
    elapsed: (state) => (state.phase === 'waiting' ? { state: { ...state, phase: 'opening' }, effect: { type: 'open' } } : impossible_(status, 'elapsed', state.phase)),
    renewed: (state) => ({ state: { ...state, phase: 'opening' }, effect: { type: 'open' } }),
    refused: refuse,
    stop,
  }
}

/** An event the phase rules out: a bug of the driver. */
function impossible_(status: Status, event: ConnectionEventType, phase: Phase): never {
  throw new Error(`no connection transition for ${event} in ${status} (${phase})`)
}

/** The complete table: `CONNECTION_TRANSITIONS[status][event]`. */
export const CONNECTION_TRANSITIONS: Table = {
  closed: {
    start: () => ({ state: { status: 'connecting', phase: 'opening', failures: 0 }, effect: { type: 'open' } }),
    opened: impossible('a closed connection has no answer'),
    synced: impossible('a closed connection has no answer'),
    progress: impossible('a closed connection has no answer'),
    healthy: impossible('the health timer stops with the connection'),
    dropped: impossible('a closed connection has nothing to drop'),
    elapsed: impossible('the backoff stops with the connection'),
    renewed: impossible('a closed connection has nothing to renew'),
    refused: impossible('a closed connection has no answer'),
    stop: stay,
  },
  connecting: trying('connecting'),
  reconnecting: trying('reconnecting'),
  live: {
    start: impossible('already started'),
    opened: impossible('a live connection is already open'),
    // A multiplexed connection may say twice that its initial data is complete.
    synced: stay,
    progress: (state) => stay({ ...state, failures: 0 }),
    healthy: (state) => stay({ ...state, failures: 0 }),
    dropped: (state, event, backoff) => drop(state.failures, event, backoff),
    elapsed: impossible('no backoff runs while live'),
    renewed: (state) => ({ state: { status: 'reconnecting', phase: 'opening', failures: state.failures }, effect: { type: 'open' } }),
    refused: refuse,
    stop,
  },
}

/** The next state and effect of `state` after `event`. Throws for an event the table rules out. */
export function step(state: Connection, event: ConnectionEvent, backoff: BackoffOptions = {}): Step {
  const rule = (CONNECTION_TRANSITIONS[state.status] as Record<ConnectionEventType, Rule<Connection>>)[event.type]
  if (typeof rule !== 'function') throw new Error(`no connection transition for ${event.type} in ${state.status}: ${rule.impossible}`)
  return rule(state, event, backoff)
}
