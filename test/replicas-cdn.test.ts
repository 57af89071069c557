/**
 * A CDN in front of the replicas (DESIGN §2.6): closed windows never change, so a caching proxy
 * serves them to every client after the first. N clients read the same history through a caching
 * reverse proxy over three replicas, all at once and then again: each gets every seq once with
 * the right states, and the origins serve each closed window once. What changes as the log grows
 * (the listing, the open window) is never kept, so it reaches the origins every time.
 */
import { StateStreamClient } from '@statestream/client'
import { expect } from 'vitest'
import { startCachingProxy } from './support/caching-proxy.ts'
import { append, createStateStream } from './support/live-server.ts'
import { collect } from './support/observe.ts'
import { headOf, replicaTest as test } from './support/replicas.ts'

const CLIENTS = 24
const ENTRIES = 200
const WINDOW_ENTRIES = 20

test(`${CLIENTS} clients read one history through a caching proxy: the origins serve each closed window once`, async ({ replicas }) => {
  const origins = await replicas(3)
  const name = await createStateStream(origins[0] as string, 'cdn/history', WINDOW_ENTRIES)
  for (let i = 1; i <= ENTRIES; i++) await append(origins[i % 3] as string, name, JSON.stringify({ merge: { i, [`k${i % 7}`]: i } }))
  const head = await headOf(origins[1] as string, name)
  const proxy = await startCachingProxy(origins)
  const clients: StateStreamClient[] = []
  try {
    const read = async (): Promise<void> => {
      const client = new StateStreamClient({ baseUrl: proxy.url })
      clients.push(client)
      const steps = await collect(client.stream(name).history({ from: 0, to: Number.MAX_SAFE_INTEGER }))
      expect(steps.map((step) => step.seq)).toEqual(Array.from({ length: ENTRIES + 1 }, (_, i) => i))
      expect(steps.at(-1)?.state).toEqual(head.state)
    }
    // Half at once (their misses collapse into one origin request each), then the rest.
    await Promise.all(Array.from({ length: CLIENTS / 2 }, read))
    await Promise.all(Array.from({ length: CLIENTS / 2 }, read))

    const windowRequests = [...proxy.origin].filter(([url]) => url.startsWith('/v1/window/'))
    const closedWindows = ENTRIES / WINDOW_ENTRIES
    // Every closed window's URL reached an origin exactly once; the open one is asked by each client.
    const once = windowRequests.filter(([, count]) => count === 1)
    const open = windowRequests.filter(([, count]) => count > 1)
    expect(once.length, JSON.stringify(windowRequests)).toBe(closedWindows)
    expect(open, JSON.stringify(windowRequests)).toEqual([[expect.any(String), CLIENTS]])
    const total = [...proxy.origin.values()].reduce((sum, count) => sum + count, 0)
    console.log(
      `cdn: ${CLIENTS} clients read ${ENTRIES} entries (${closedWindows} closed windows + the open one); the origins served each closed window once ` +
        `(${once.length} requests for closed windows, not ${CLIENTS * closedWindows}), ${total} requests in all; the proxy answered ${proxy.hits} from its cache`,
    )
  } finally {
    await Promise.all(clients.map((client) => client.close()))
    await proxy.close()
  }
})
