/**
 * The client's heap while it holds windows, in a process of its own started with `--expose-gc`.
 * Command `measure { url, stream, windows }`:
 * - `oneState`: heap growth from holding one parsed state of the stream (its head state);
 * - `client`: heap growth from a `StateStreamClient` holding the last `windows` closed windows
 *   (fetched with `stream.window({ seq })`, kept by its window store);
 * - `shared`: heap growth from the same windows rebuilt by `apply` from the first one's start
 *   state, each window keeping its start state and entries: what structural sharing allows.
 */
import { StateStreamClient } from '@statestream/client'
import { apply } from '@statestream/common'
import type { Json, Mutation, WindowData } from '@statestream/common'
import { memory, serve } from '../lib/proc.ts'

/** Holds values where the optimiser cannot drop them. */
const keep: unknown[] = []

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`)
  return (await response.json()) as T
}

function heap(): number {
  return memory().heapUsed
}

serve({
  ready: () => ({ pid: process.pid }),
  measure: async (args) => {
    const url = args.url as string
    const stream = args.stream as string
    const count = args.windows as number
    if ((globalThis as { gc?: unknown }).gc === undefined) throw new Error('needs --expose-gc')

    const listing = await getJson<{ windows: Array<{ start: { seq: number }; end: { seq: number } | null }> }>(
      `${url}/v1/windows/${stream}?from=0&to=${Number.MAX_SAFE_INTEGER}`,
    )
    const closed = listing.windows.filter((window) => window.end !== null).slice(-count)
    if (closed.length < count) throw new Error(`the stream has ${closed.length} closed windows, not ${count}`)

    // One state.
    const stateText = await (await fetch(`${url}/v1/state/${stream}`)).text()
    let base = heap()
    keep.push(JSON.parse(stateText))
    const oneState = heap() - base
    keep.length = 0

    // The client holding the windows.
    const client = new StateStreamClient({ baseUrl: url, maxBytes: 2 ** 40 })
    const handle = client.stream(stream)
    await handle.window({ seq: 0 }) // Warm the client's code paths with a window not measured.
    base = heap()
    const held = []
    for (const window of closed) held.push(await handle.window({ seq: window.start.seq }))
    keep.push(held)
    const clientHeap = heap() - base
    const heldWindows = client.stats().windows
    keep.length = 0
    await client.close()

    // The same windows rebuilt by apply: states share every subtree a mutation did not touch.
    const texts: string[] = []
    for (const window of closed) texts.push(await (await fetch(`${url}/v1/window/${stream}?seq=${window.start.seq}`)).text())
    base = heap()
    const rebuilt: Array<{ start: Json; entries: unknown[] }> = []
    let state: Json | undefined
    for (const text of texts) {
      const body = JSON.parse(text) as WindowData
      // Only the first window's start state is taken as sent; the others are derived.
      state ??= body.start?.state as Json
      rebuilt.push({ start: state, entries: body.entries })
      for (const entry of body.entries) state = apply(state, entry.m as Mutation)
    }
    keep.push(rebuilt)
    const shared = heap() - base
    keep.length = 0
    texts.length = 0
    return { stateBytes: Buffer.byteLength(stateText), oneState, client: clientHeap, heldWindows, shared }
  },
})
