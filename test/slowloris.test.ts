/**
 * Slowloris: clients that open connections and then trickle their headers or their body, a byte at
 * a time, are closed once the headers timeout (or the whole-request timeout) has passed — not a
 * minute later — while an ordinary client is answered at once throughout.
 *
 * Bounded for CI (20 connections of each kind, timeouts of 1 s and 2 s). Knobs for a long run:
 * SLOWLORIS_CONNECTIONS, SLOWLORIS_HEADERS_TIMEOUT_MS, SLOWLORIS_REQUEST_TIMEOUT_MS; with
 * SLOWLORIS_REPORT=1 the close times are printed.
 */
import { connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import { request } from 'undici'
import { expect } from 'vitest'
import { liveTest as test } from './support/live-server.ts'

const CONNECTIONS = Number(process.env.SLOWLORIS_CONNECTIONS ?? 20)
const HEADERS_TIMEOUT_MS = Number(process.env.SLOWLORIS_HEADERS_TIMEOUT_MS ?? 1_000)
const REQUEST_TIMEOUT_MS = Number(process.env.SLOWLORIS_REQUEST_TIMEOUT_MS ?? 2_000)
/** How far past its timeout a close may come on a slow, busy machine (the check runs every ≤ 1 s). */
const SLACK_MS = 5_000
const TRICKLE_MS = 100

interface Loris {
  socket: Socket
  opened: number
  /** ms from opening to the server's close; undefined while open. */
  closedAfter: number | undefined
  received: string
}

/** Opens a connection that sends `head`, then one byte of `drip` every TRICKLE_MS, forever (nothing when both are empty). */
function loris(port: number, head: string, drip: string): Promise<Loris> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const state: Loris = { socket, opened: 0, closedAfter: undefined, received: '' }
    let timer: NodeJS.Timeout | undefined
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (state.received += chunk))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearInterval(timer)
      state.closedAfter ??= performance.now() - state.opened
    })
    socket.once('connect', () => {
      state.opened = performance.now()
      if (head !== '') socket.write(head)
      let i = 0
      if (drip !== '') timer = setInterval(() => {
        if (!socket.writable) return clearInterval(timer)
        socket.write(drip[i++ % drip.length] as string)
      }, TRICKLE_MS)
      resolve(state)
    })
    socket.once('error', reject)
  })
}

/**
 * Waits until the server has accepted `count` connections: a burst of hundreds takes it a while
 * on a busy machine, and a client connecting meanwhile waits in the same accept queue — that is
 * the burst, not the slow clients, which are what the test is about.
 */
async function accepted(server: Server, count: number, deadlineMs = 30_000): Promise<void> {
  const deadline = performance.now() + deadlineMs
  const open = (): Promise<number> => new Promise((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))))
  while ((await open()) < count) {
    if (performance.now() > deadline) throw new Error(`the server accepted ${await open()} of ${count} connections within ${deadlineMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function waitClosed(all: Loris[], deadlineMs: number): Promise<void> {
  const deadline = performance.now() + deadlineMs
  while (all.some((l) => l.closedAfter === undefined) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function report(label: string, all: Loris[]): void {
  if (process.env.SLOWLORIS_REPORT === undefined) return
  const times = all.map((l) => l.closedAfter ?? Number.NaN).sort((a, b) => a - b)
  const at = (q: number): number => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN)
  process.stdout.write(`${label}: ${all.length} connections closed after min ${at(0)} ms, median ${at(0.5)} ms, max ${at(1)} ms\n`)
}

test('trickled headers and trickled bodies are closed within their timeouts; others are served meanwhile', async ({ serve }) => {
  const { app, url } = await serve({ headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS })
  const port = (app.server.address() as { port: number }).port
  // Slow headers: a request line, then a header that never ends.
  const heads = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => loris(port, 'GET /v1/state/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 'abcdefgh')),
  )
  // Slow bodies: complete headers announcing a body that arrives a byte at a time.
  const bodies = await Promise.all(
    Array.from({ length: CONNECTIONS }, () =>
      loris(port, 'POST /v1/stream/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n', 'x'),
    ),
  )
  // An ordinary client is answered promptly while they hang on (once the server holds them all).
  await accepted(app.server, 2 * CONNECTIONS)
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    const health = await request(`${url}/health`)
    await health.body.dump()
    expect(health.statusCode).toBe(200)
    expect(performance.now() - started).toBeLessThan(2_000)
    await new Promise((resolve) => setTimeout(resolve, HEADERS_TIMEOUT_MS / 5))
  }
  await waitClosed([...heads, ...bodies], REQUEST_TIMEOUT_MS + SLACK_MS + 5_000)
  report(`slow headers (headersTimeout ${HEADERS_TIMEOUT_MS} ms)`, heads)
  report(`slow bodies (requestTimeout ${REQUEST_TIMEOUT_MS} ms)`, bodies)
  for (const l of heads) {
    expect(l.closedAfter, 'a slow-headers connection is still open').toBeDefined()
    expect(l.closedAfter as number).toBeLessThan(HEADERS_TIMEOUT_MS + SLACK_MS)
    // Not cut before its time either: it was sending, just slowly.
    expect(l.closedAfter as number).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS * 0.9)
  }
  for (const l of bodies) {
    expect(l.closedAfter, 'a slow-body connection is still open').toBeDefined()
    expect(l.closedAfter as number).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS)
    expect(l.closedAfter as number).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS * 0.9)
  }
  // Nothing of the trickled body was stored.
  const state = await request(`${url}/v1/stream/x`, { method: 'HEAD' })
  await state.body.dump()
  expect(state.statusCode).toBe(404)
})

test('a connection that never sends a byte is closed by the headers timeout', async ({ serve }) => {
  const { app } = await serve({ headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS })
  const port = (app.server.address() as { port: number }).port
  const silent = await Promise.all(Array.from({ length: CONNECTIONS }, () => loris(port, '', '')))
  for (const l of silent) l.socket.removeAllListeners('data')
  await waitClosed(silent, HEADERS_TIMEOUT_MS + SLACK_MS + 5_000)
  report(`silent connections (headersTimeout ${HEADERS_TIMEOUT_MS} ms)`, silent)
  for (const l of silent) {
    expect(l.closedAfter, 'a silent connection is still open').toBeDefined()
    expect(l.closedAfter as number).toBeLessThan(HEADERS_TIMEOUT_MS + SLACK_MS)
  }
})
