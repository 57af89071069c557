/**
 * The client in a browser: its `browser` entry bundled by esbuild (nothing of Node in it), run in
 * headless Chromium against a real server on another origin, behind a proxy that can drop the
 * connection. It creates and appends, reads a window and a history, and tails `live$` through a
 * drop, with no gap and no duplicate.
 */
import { fileURLToPath } from 'node:url'
import { StateStreamClient } from '@statestream/client'
import { buildApp } from '@statestream/server'
import { describe, expect } from 'vitest'
import { browserTest as test, bundle, chromiumAvailable, modulePage, serveSite } from '../support/browser.ts'
import type { Bundle } from '../support/browser.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'

const entry = fileURLToPath(new URL('./client-page.ts', import.meta.url))

let built: Bundle | undefined
async function page(): Promise<Bundle> {
  built ??= await bundle(entry)
  return built
}

describe.skipIf(!chromiumAvailable() && process.env.CI === undefined)('the client in Chromium', () => {
  test('the browser bundle holds nothing of Node: no built-in, no undici', async () => {
    const { inputs, code } = await page()
    expect(inputs.some((input) => input.includes('packages/client/src/browser.ts'))).toBe(true)
    expect(inputs.filter((input) => input.startsWith('node:') || input.includes('/undici/') || input.endsWith('/index.ts') && input.includes('packages/client/src/'))).toEqual([])
    expect(code).not.toMatch(/from ["']node:/)
  })

  test('create, append, window, history, and live$ through a dropped connection', async ({ open }) => {
    const app = await buildApp({ heartbeatMs: 200 })
    const server = await app.listen({ port: 0, host: '127.0.0.1' })
    const target = new URL(server)
    const net = await startTcpProxy({ host: target.hostname, port: Number(target.port) })
    const site = await serveSite(modulePage(await page(), 'client'))
    const writer = new StateStreamClient({ baseUrl: server })
    try {
      const { page: tab, expectError } = await open(site.url)
      await tab.waitForFunction(() => globalThis.statestream !== undefined)

      // Writes and reads from the page, across origins.
      const read = await tab.evaluate(async (baseUrl) => {
        const client = new globalThis.statestream.StateStreamClient({ baseUrl, backoff: { initialMs: 20, maxMs: 100 } })
        const stream = client.stream<{ n?: number }>('web/a')
        const { created } = await stream.create({ snapshot: { entries: 3 } })
        const appended: number[] = []
        for (let n = 1; n <= 7; n++) appended.push((await stream.append({ merge: { n } })).seq)
        const window = await stream.window({ at: 'now' })
        const steps: Array<[number, number | undefined]> = []
        await new Promise<void>((resolve, reject) =>
          stream.history({ from: 0, to: Number.MAX_SAFE_INTEGER }).subscribe({ next: (s) => void steps.push([s.seq, s.state.n]), error: reject, complete: resolve }),
        )
        const state = await stream.stateAt(Number.MAX_SAFE_INTEGER - 1)
        await client.close()
        return { created, appended, window: { status: window.status, start: window.start?.seq, entries: window.entries.map((e) => e.seq) }, steps, state }
      }, net.url)
      expect(read.created).toBe(true)
      expect(read.appended).toEqual([1, 2, 3, 4, 5, 6, 7])
      expect(read.window).toEqual({ status: 'pulling', start: 6, entries: [7] })
      expect(read.steps).toEqual([[0, undefined], ...Array.from({ length: 7 }, (_, i) => [i + 1, i + 1])])
      expect(read.state).toEqual({ n: 7 })

      // A live cursor in the page; entries written from here; the connection dropped under it.
      await tab.evaluate((baseUrl) => {
        const client = new globalThis.statestream.StateStreamClient({ baseUrl, backoff: { initialMs: 20, maxMs: 100 } })
        const stream = client.stream<{ n?: number }>('web/a')
        const seen: Array<{ seq: number; n: number | undefined; entry: boolean }> = []
        const statuses: string[] = []
        Object.assign(globalThis, { seen, statuses, client })
        stream.status$.subscribe((status) => statuses.push(status))
        stream.live$.subscribe({
          next: (s) => seen.push({ seq: s.seq, n: s.state.n, entry: s.entry !== undefined }),
          error: (err: unknown) => console.error(`live$ failed: ${String(err)}`),
        })
      }, net.url)
      const seenUpTo = (seq: number) =>
        tab.waitForFunction((n) => ((globalThis as unknown as { seen: Array<{ seq: number }> }).seen.at(-1)?.seq ?? -1) >= n, seq)
      await seenUpTo(7)
      for (let n = 8; n <= 10; n++) await writer.stream('web/a').append({ merge: { n } })
      await seenUpTo(10)
      const before = net.opened
      // The browser reports the reset connection on its console; that one is expected.
      expectError(/ERR_CONNECTION_RESET/)
      net.cut()
      for (let n = 11; n <= 14; n++) await writer.stream('web/a').append({ merge: { n } })
      await seenUpTo(14)
      const live = await tab.evaluate(() => {
        const g = globalThis as unknown as { seen: Array<{ seq: number; n: number | undefined; entry: boolean }>; statuses: string[] }
        return { seen: g.seen, statuses: g.statuses }
      })
      // The current state first, then every entry once, in order, across the drop.
      expect(live.seen).toEqual([{ seq: 7, n: 7, entry: false }, ...Array.from({ length: 7 }, (_, i) => ({ seq: 8 + i, n: 8 + i, entry: true }))])
      expect(live.statuses).toContain('reconnecting')
      expect(live.statuses.at(-1)).toBe('live')
      expect(net.opened).toBeGreaterThan(before)
      await tab.evaluate(() => (globalThis as unknown as { client: { close(): Promise<void> } }).client.close())
    } finally {
      await writer.close()
      await site.close()
      await net.close()
      await app.close()
    }
  })
})
