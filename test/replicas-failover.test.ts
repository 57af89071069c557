/**
 * A replica that dies loses nothing acknowledged, and its live clients go on through another
 * (DESIGN §2.6). Three replica processes over one database, behind a round-robin load balancer;
 * clients tail a stream (each its own connection, so they spread over the replicas) and writers
 * append through idempotent producers, all through the balancer. The replica holding the most
 * connections is killed with SIGKILL mid-run. Then:
 * - every tail emitted every seq once, in order, from its first state to the head (no gap, no
 *   duplicate), and ended at the head's state; the killed replica's tails reconnected;
 * - every append a writer saw acknowledged is in the log exactly once, each writer's in its order,
 *   and nothing is in it twice.
 */
import type { Json } from '@statestream/common'
import { StateStreamClient } from '@statestream/client'
import type { LiveState, LiveStatus } from '@statestream/client'
import { expect } from 'vitest'
import { headOf, killReplica, readLog, replicaTest as test } from './support/replicas.ts'
import type { ReplicaProcess } from './support/replicas.ts'
import { backendOf, startRoundRobinProxy } from './support/round-robin-proxy.ts'

const STREAM = 'failover/list'
const TAILS = 6
const WRITERS = 3
const PER_WRITER = 40

/** One tail: what its live cursor emitted, and the statuses it went through. */
interface Tail {
  values: Array<LiveState<Json>>
  statuses: LiveStatus[]
}

/** Resolves once `check` holds, polling every 20 ms; rejects after `ms`. */
async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = performance.now() + ms
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

test('kill -9 of a replica under tails and writers: tails resume elsewhere with no gap or duplicate, nothing acknowledged lost', { timeout: 240_000 }, async ({ newSchema, spawnReplica }) => {
  const schema = newSchema()
  const processes: ReplicaProcess[] = []
  // One after another: the first migrates the schema.
  for (let i = 0; i < 3; i++) processes.push(await spawnReplica(schema))
  const balancer = await startRoundRobinProxy(processes.map((replica) => backendOf(replica.url)))
  const options = { baseUrl: balancer.url, backoff: { initialMs: 20, maxMs: 250 }, watchdogMs: 10_000, appendAttempts: 30, fetchAttempts: 30 }
  const clients: StateStreamClient[] = []
  const connect = (): StateStreamClient => {
    const client = new StateStreamClient(options)
    clients.push(client)
    return client
  }
  try {
    await connect().stream(STREAM).create({ messages: [{ set: { list: [] } }], snapshot: { entries: 10 } })

    const tails: Tail[] = []
    const subscriptions = []
    for (let t = 0; t < TAILS; t++) {
      const tail: Tail = { values: [], statuses: [] }
      const handle = connect().stream(STREAM)
      subscriptions.push(handle.status$.subscribe((status) => tail.statuses.push(status)))
      subscriptions.push(handle.live$.subscribe({ next: (value) => tail.values.push(value), error: (error: unknown) => tail.statuses.push(`error: ${String(error)}` as LiveStatus) }))
      tails.push(tail)
    }
    await until(() => tails.every((tail) => tail.values.length > 0), 'every tail has its first state')

    const acked: Array<Set<number>> = Array.from({ length: WRITERS }, () => new Set())
    const victim = balancer.open.indexOf(Math.max(...balancer.open))
    const writing = Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        const stream = connect().stream(STREAM)
        for (let i = 0; i < PER_WRITER; i++) {
          await stream.append({ patch: [{ op: 'add', path: '/list/-', value: `${w}.${i}` }] })
          ;(acked[w] as Set<number>).add(i)
        }
      }),
    )
    // Kill it mid-run, with appends in flight.
    await until(() => acked.reduce((sum, set) => sum + set.size, 0) >= (WRITERS * PER_WRITER) / 3, 'a third of the appends are acknowledged')
    const onVictim = balancer.open[victim] ?? 0
    await killReplica(processes[victim] as ReplicaProcess)
    // The kill came mid-run: the writers had appends still to make (and some in flight).
    const ackedAtKill = acked.reduce((sum, set) => sum + set.size, 0)
    await writing
    expect(ackedAtKill).toBeLessThan(WRITERS * PER_WRITER)

    const head = await headOf(balancer.url, STREAM)
    expect(head.seq).toBe(1 + WRITERS * PER_WRITER)
    await until(() => tails.every((tail) => tail.values.at(-1)?.seq === head.seq), 'every tail reaches the head')
    for (const [t, tail] of tails.entries()) {
      const seqs = tail.values.map((value) => value.seq)
      const first = seqs[0] as number
      expect(seqs, `tail ${t}: every seq once, in order`).toEqual(Array.from({ length: head.seq - first + 1 }, (_, i) => first + i))
      expect(tail.values.at(-1)?.state, `tail ${t}`).toEqual(head.state)
      expect(tail.statuses.filter((status) => status.startsWith('error'))).toEqual([])
    }
    // The tails that were on the killed replica went through a reconnection.
    expect(tails.filter((tail) => tail.statuses.includes('reconnecting')).length).toBeGreaterThan(0)

    // Everything acknowledged is stored once; nothing is stored twice; each writer's order holds.
    const log = await readLog(balancer.url, STREAM)
    const list = (head.state as { list: string[] }).list
    expect(log.length).toBe(1 + WRITERS * PER_WRITER)
    expect(new Set(list).size).toBe(list.length)
    for (let w = 0; w < WRITERS; w++) {
      const mine = list.filter((value) => value.startsWith(`${w}.`)).map((value) => Number(value.split('.')[1]))
      expect(mine, `writer ${w}`).toEqual(Array.from({ length: PER_WRITER }, (_, i) => i))
      for (const i of acked[w] as Set<number>) expect(mine).toContain(i)
    }
    for (const subscription of subscriptions) subscription.unsubscribe()
    console.log(
      `failover: replica ${victim} killed holding ${onVictim} connections; ${tails.filter((tail) => tail.statuses.includes('reconnecting')).length}/${TAILS} tails reconnected; ${head.seq} entries, none lost or repeated`,
    )
  } finally {
    await Promise.all(clients.map((client) => client.close()))
    await balancer.close()
  }
})
