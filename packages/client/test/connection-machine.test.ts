/**
 * The connection state machine, cell by cell (every status × event, and for the trying statuses
 * every phase), the backoff it schedules, and what resets it: only a connection that proved
 * healthy, never an error, an open, or initial data.
 */
import { expect, test } from 'vitest'
import { DEFAULT_BACKOFF, backoffDelay, classify, retryAfterMs } from '../src/core/backoff.ts'
import { CONNECTION_TRANSITIONS, step } from '../src/core/connection-machine.ts'
import type { Connection, ConnectionEvent, ConnectionEventType } from '../src/core/connection-machine.ts'

const events: Record<ConnectionEventType, ConnectionEvent> = {
  start: { type: 'start' },
  opened: { type: 'opened' },
  synced: { type: 'synced' },
  progress: { type: 'progress' },
  healthy: { type: 'healthy' },
  dropped: { type: 'dropped', random: 0, floorMs: 0 },
  elapsed: { type: 'elapsed' },
  renewed: { type: 'renewed' },
  refused: { type: 'refused' },
  stop: { type: 'stop' },
}

/** `status/phase` → event → `status/phase effect`, or `impossible`. */
const states: Record<string, Connection> = {
  closed: { status: 'closed' },
  'connecting/opening': { status: 'connecting', phase: 'opening', failures: 0 },
  'connecting/syncing': { status: 'connecting', phase: 'syncing', failures: 0 },
  'reconnecting/waiting': { status: 'reconnecting', phase: 'waiting', failures: 2 },
  'reconnecting/opening': { status: 'reconnecting', phase: 'opening', failures: 2 },
  'reconnecting/syncing': { status: 'reconnecting', phase: 'syncing', failures: 2 },
  live: { status: 'live', failures: 2 },
}

const I = 'impossible'
const expected: Record<string, Record<ConnectionEventType, string>> = {
  closed: { start: 'connecting/opening open', opened: I, synced: I, progress: I, healthy: I, dropped: I, elapsed: I, renewed: I, refused: I, stop: 'closed none' },
  'connecting/opening': { start: I, opened: 'connecting/syncing none', synced: 'live arm', progress: 'connecting/opening none', healthy: I, dropped: 'reconnecting/waiting wait', elapsed: I, renewed: 'connecting/opening open', refused: 'closed fail', stop: 'closed close' },
  'connecting/syncing': { start: I, opened: I, synced: 'live arm', progress: 'connecting/syncing none', healthy: I, dropped: 'reconnecting/waiting wait', elapsed: I, renewed: 'connecting/opening open', refused: 'closed fail', stop: 'closed close' },
  'reconnecting/waiting': { start: I, opened: I, synced: I, progress: 'reconnecting/waiting none', healthy: I, dropped: 'reconnecting/waiting wait', elapsed: 'reconnecting/opening open', renewed: 'reconnecting/opening open', refused: 'closed fail', stop: 'closed close' },
  'reconnecting/opening': { start: I, opened: 'reconnecting/syncing none', synced: 'live arm', progress: 'reconnecting/opening none', healthy: I, dropped: 'reconnecting/waiting wait', elapsed: I, renewed: 'reconnecting/opening open', refused: 'closed fail', stop: 'closed close' },
  'reconnecting/syncing': { start: I, opened: I, synced: 'live arm', progress: 'reconnecting/syncing none', healthy: I, dropped: 'reconnecting/waiting wait', elapsed: I, renewed: 'reconnecting/opening open', refused: 'closed fail', stop: 'closed close' },
  live: { start: I, opened: I, synced: 'live none', progress: 'live none', healthy: 'live none', dropped: 'reconnecting/waiting wait', elapsed: I, renewed: 'reconnecting/opening open', refused: 'closed fail', stop: 'closed close' },
}

const name = (state: Connection): string => ('phase' in state ? `${state.status}/${state.phase}` : state.status)

test('every status × event of the table is a rule or explicitly impossible, and every one is checked below', () => {
  const cells = Object.entries(CONNECTION_TRANSITIONS).flatMap(([status, row]) => Object.keys(row).map((event) => `${status}.${event}`))
  expect(cells).toHaveLength(4 * 10)
  const statuses = new Set(Object.keys(states).map((key) => key.split('/')[0]))
  expect([...statuses].sort()).toEqual(Object.keys(CONNECTION_TRANSITIONS).sort())
  for (const row of Object.values(expected)) expect(Object.keys(row).sort()).toEqual(Object.keys(events).sort())
})

test.for(Object.entries(expected).flatMap(([state, row]) => Object.entries(row).map(([event, outcome]) => [state, event, outcome] as const)))(
  '%s × %s → %s',
  ([state, event, outcome]) => {
    const run = () => step(states[state] as Connection, events[event as ConnectionEventType])
    if (outcome === I) {
      expect(run).toThrow(/no connection transition/)
      return
    }
    const next = run()
    expect(`${name(next.state)} ${next.effect.type}`).toBe(outcome)
  },
)

test('failures count up until a connection proves healthy: by an entry after its initial data, or by lasting', () => {
  let state: Connection = { status: 'closed' }
  const go = (event: ConnectionEvent): void => {
    state = step(state, event).state
  }
  go(events.start)
  for (let i = 0; i < 3; i++) {
    go(events.dropped)
    go(events.elapsed)
  }
  expect(state).toMatchObject({ failures: 3 })
  // Opening, initial data and catch-up entries prove nothing.
  go(events.opened)
  go(events.progress)
  go(events.synced)
  expect(state).toMatchObject({ status: 'live', failures: 3 })
  go(events.dropped)
  expect(state).toMatchObject({ status: 'reconnecting', failures: 4 })
  go(events.elapsed)
  go(events.opened)
  go(events.synced)
  go(events.progress)
  expect(state).toMatchObject({ status: 'live', failures: 0 })
  go(events.dropped)
  go(events.elapsed)
  go(events.synced)
  expect(state).toMatchObject({ failures: 1 })
  go(events.healthy)
  expect(state).toMatchObject({ failures: 0 })
})

test('the backoff: equal jitter in [c/2, c], c doubling from 100 ms up to 10 s, Retry-After a floor', () => {
  const low = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, 0))
  const high = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, 0.999999))
  expect(low).toEqual([50, 100, 200, 400, 800, 1600, 3200, 5000, 5000])
  expect(high).toEqual([99, 199, 399, 799, 1599, 3199, 6399, 9999, 9999])
  expect(backoffDelay(1, 0, {}, 2_000)).toBe(2_000)
  expect(DEFAULT_BACKOFF).toEqual({ initialMs: 100, maxMs: 10_000 })
})

test('a server that fails every live request gets at most 7 reconnects in 10 s, whatever the jitter draws', () => {
  for (const random of [0, 0.5, 0.999999]) {
    // Simulated time: each attempt fails at once (as fast as a failing server can answer).
    let state: Connection = step({ status: 'closed' }, events.start).state
    let now = 0
    let reconnects = 0
    for (;;) {
      const drop = step(state, { type: 'dropped', random, floorMs: 0 })
      if (drop.effect.type !== 'wait') throw new Error('a drop waits')
      now += drop.effect.ms
      if (now > 10_000) break
      state = step(drop.state, events.elapsed).state
      reconnects += 1
    }
    expect(reconnects).toBeLessThanOrEqual(7)
    expect(reconnects).toBeGreaterThanOrEqual(random === 0 ? 7 : 6)
  }
})

test.for([
  ['a network failure', { code: 'NETWORK' }, 'retry'],
  ['an in-band SLOW_READER', { code: 'SLOW_READER' }, 'retry'],
  ['an in-band INTERNAL', { code: 'INTERNAL' }, 'retry'],
  ['a 500 INTERNAL answer', { code: 'INTERNAL', status: 500 }, 'retry'],
  ['a proxy 502', { code: 'NETWORK', status: 502 }, 'retry'],
  ['a 408', { code: 'REQUEST_TIMEOUT', status: 408 }, 'retry'],
  ['a 429', { code: 'RATE_LIMITED', status: 429 }, 'retry'],
  ['a 401', { code: 'UNAUTHORIZED', status: 401 }, 'refused'],
  ['an in-band UNAUTHORIZED', { code: 'UNAUTHORIZED' }, 'refused'],
  ['a 403', { code: 'FORBIDDEN', status: 403 }, 'refused'],
  ['a 409', { code: 'MUTATION_FAILED', status: 409 }, 'refused'],
  ['a 400 BAD_REQUEST', { code: 'BAD_REQUEST', status: 400 }, 'refused'],
  ['a deleted stream', { code: 'STREAM_DELETED' }, 'gone'],
  ['a missing stream', { code: 'STREAM_NOT_FOUND', status: 404 }, 'gone'],
  ['an abort', { code: 'CLOSED' }, 'closed'],
] as const)('%s is %s', ([, err, kind]) => {
  expect(classify(err)).toBe(kind)
})

test('Retry-After in seconds or as a date; a date far off is capped at an hour', () => {
  const now = Date.parse('2024-01-01T00:00:00Z')
  const of = (value: string) => retryAfterMs({ headers: { 'retry-after': value } }, now)
  expect(of('3')).toBe(3_000)
  expect(of('Mon, 01 Jan 2024 00:00:05 GMT')).toBe(5_000)
  expect(of('Tue, 02 Jan 2024 00:00:00 GMT')).toBe(3_600_000)
  expect(of('soon')).toBeUndefined()
  expect(retryAfterMs({ headers: {} }, now)).toBeUndefined()
})
