/**
 * Workload 3, History: a client materialises a whole state stream — every state, every entry
 * applied with `common`'s `apply` — from its windows, with `@statestream/client`'s `history()`
 * (a window listing, then window fetches a few at once). The peer is the Durable Streams
 * reference server holding the same messages on a JSON stream, read by catch-up
 * (`GET ?offset=-1`, following `Stream-Next-Offset` until `Stream-Up-To-Date`) and applied the same
 * way, so both clients end with every state.
 */
import { join } from 'node:path'
import { apply } from '@statestream/common'
import type { Json, Mutation } from '@statestream/common'
import { StateStreamClient } from '@statestream/client'
import { cpuSeconds, start } from '../lib/proc.ts'
import { batchBody, call, pool } from '../lib/load.ts'
import { fmt, median } from '../lib/stats.ts'
import type { Context, Row } from '../lib/types.ts'

const STREAM = 'bench/history'
/** Messages per request while building, and requests in flight. */
const BUILD_BATCH = 1000
const BUILD_IN_FLIGHT = 4
/** The client's window budget: what it keeps of what it read, so that nothing is fetched twice. */
const KEPT_BYTES = 16 * 1024 * 1024

/** Appends `entries` 100-byte mutations to `url`'s stream, in batches. */
async function build(url: string, entries: number, headers: Record<string, string>): Promise<number> {
  const p = pool(url, BUILD_IN_FLIGHT)
  const started = performance.now()
  try {
    await call(p, 'PUT', `/v1/stream/${STREAM}`, { headers })
    let next = 0
    const sender = async (): Promise<void> => {
      while (next < entries) {
        const from = next
        next += BUILD_BATCH
        await call(p, 'POST', `/v1/stream/${STREAM}`, {
          headers: { 'content-type': 'application/json' },
          body: batchBody(Math.min(BUILD_BATCH, entries - from), from),
        })
      }
    }
    await Promise.all(Array.from({ length: BUILD_IN_FLIGHT }, sender))
  } finally {
    await p.close()
  }
  return (performance.now() - started) / 1000
}

/** statestream: every state of the stream through the client's `history()`. Returns entries/s. */
async function viaClient(url: string, entries: number, maxBytes = KEPT_BYTES): Promise<number> {
  const client = new StateStreamClient({ baseUrl: url, maxBytes })
  const started = performance.now()
  try {
    const stream = client.stream(STREAM)
    let applied = 0
    let last = 0
    await new Promise<void>((resolve, reject) => {
      stream.history({ from: 0, to: Number.MAX_SAFE_INTEGER }).subscribe({
        next: (step) => {
          if (step.entry !== undefined) applied++
          last = step.seq
        },
        error: reject,
        complete: resolve,
      })
    })
    if (applied !== entries || last !== entries) throw new Error(`history gave ${applied} entries up to seq ${last}, expected ${entries}`)
    return entries / ((performance.now() - started) / 1000)
  } finally {
    await client.close()
  }
}

/** The reference server: catch-up reads from the start, every message applied. Returns entries/s. */
async function viaCatchUp(url: string, entries: number): Promise<number> {
  const p = pool(url, 1)
  const started = performance.now()
  try {
    let state: Json = {}
    let applied = 0
    let offset = '-1'
    for (let requests = 0; requests < 100_000; requests++) {
      const response = await call(p, 'GET', `/v1/stream/${STREAM}?offset=${offset}`)
      const messages = JSON.parse(response.text) as Mutation[]
      for (const message of messages) {
        state = apply(state, message)
        applied++
      }
      offset = String(response.headers['stream-next-offset'])
      if (response.headers['stream-up-to-date'] === 'true') break
    }
    if (applied !== entries) throw new Error(`catch-up gave ${applied} messages, expected ${entries}`)
    return entries / ((performance.now() - started) / 1000)
  } finally {
    await p.close()
  }
}

/**
 * The server's CPU per closed-window fetch: `GET /v1/window/<name>?seq=` of closed windows
 * (1000 entries each here), 4 at a time for `seconds`, then the same requests with the
 * `If-None-Match` of each window's ETag (every answer a 304). Returns µs of server CPU per
 * request for each.
 */
async function windowCpu(url: string, pid: number, seconds: number): Promise<{ window: number; notModified: number; bytes: number }> {
  const p = pool(url, 4)
  try {
    // The closed windows: every snapshot but the last starts one (1000 entries per window by default).
    const listing = JSON.parse((await call(p, 'GET', `/v1/windows/${STREAM}?from=0`)).text) as { windows: Array<{ start: { seq: number }; end: { seq: number } | null }> }
    const closed = listing.windows.filter((w) => w.end !== null).map((w) => w.start.seq)
    if (closed.length === 0) throw new Error('no closed window to fetch')
    const etags = new Map<number, string>()
    let bytes = 0
    for (const seq of closed.slice(0, 64)) {
      const answer = await call(p, 'GET', `/v1/window/${STREAM}?seq=${seq}`)
      etags.set(seq, String(answer.headers.etag))
      bytes = answer.text.length
    }
    const seqs = [...etags.keys()]
    const run = async (conditional: boolean): Promise<number> => {
      let requests = 0
      let next = 0
      const before = cpuSeconds(pid)
      const deadline = performance.now() + seconds * 1000
      const sender = async (): Promise<void> => {
        while (performance.now() < deadline) {
          const seq = seqs[next++ % seqs.length] as number
          const headers: Record<string, string> = conditional ? { 'if-none-match': etags.get(seq) as string } : {}
          const answer = await call(p, 'GET', `/v1/window/${STREAM}?seq=${seq}`, { headers, expect: conditional ? [304] : [200] })
          if (!conditional && answer.text.length === 0) throw new Error('an empty window')
          requests++
        }
      }
      await Promise.all(Array.from({ length: 4 }, sender))
      return ((cpuSeconds(pid) - before) * 1e6) / requests
    }
    await run(false)
    const window = await run(false)
    const notModified = await run(true)
    return { window, notModified, bytes }
  } finally {
    await p.close()
  }
}

/**
 * The client's ceiling: `count` of the same messages parsed from one JSON text (`batchBody`) and
 * applied, no I/O at all. Returns entries/s. (200,000 at most: a million parsed at once would
 * be measured against its own garbage collection.)
 */
function applyCeiling(text: string, count: number): number {
  const started = performance.now()
  let state: Json = {}
  const messages = JSON.parse(text) as Mutation[]
  for (const message of messages) state = apply(state, message)
  if (messages.length !== count) throw new Error('the ceiling parsed the wrong text')
  return count / ((performance.now() - started) / 1000)
}

export async function historyWorkload(ctx: Context): Promise<Row[]> {
  const entries = ctx.quick ? 50_000 : 1_000_000
  // Five: one read of 1M entries swings by ±20% on a shared 2-core machine.
  const rounds = ctx.quick ? 2 : 5
  const ss = await start<{ url: string }>('statestream', 'servers/statestream.ts', { file: join(ctx.tmp, 'history.db') }, { nodeArgs: ctx.serverNodeArgs })
  const ds = await start<{ url: string }>('durable-streams', 'servers/durable.ts', { dataDir: join(ctx.tmp, 'history-ds') })
  const ssRates: number[] = []
  const keepNothing: number[] = []
  const dsRates: number[] = []
  let buildNote = ''
  const ceiling: number[] = []
  const ceilingCount = Math.min(entries, 200_000)
  const ceilingText = batchBody(ceilingCount)
  const serverCores: number[] = []
  const clientCores: number[] = []
  let perWindow = { window: Number.NaN, notModified: Number.NaN, bytes: 0 }
  try {
    ctx.log(`history: building ${fmt(entries)} entries on each server`)
    const ssBuild = await build(ss.ready.url, entries, { 'content-type': 'application/json', 'stream-kind': 'state' })
    const dsBuild = await build(ds.ready.url, entries, { 'content-type': 'application/json' })
    buildNote = `built with batched POSTs of ${BUILD_BATCH}: statestream ${fmt(ssBuild, 1)} s, peer ${fmt(dsBuild, 1)} s.`
    ctx.log(`history: built in ${fmt(ssBuild, 1)} s (statestream), ${fmt(dsBuild, 1)} s (peer); warm-up`)
    await viaClient(ss.ready.url, entries)
    await viaCatchUp(ds.ready.url, entries)
    for (let round = 0; round < rounds; round++) {
      const serverBefore = cpuSeconds(ss.child.pid)
      const clientBefore = process.cpuUsage()
      const wallBefore = performance.now()
      ssRates.push(await viaClient(ss.ready.url, entries))
      ceiling.push(applyCeiling(ceilingText, ceilingCount))
      const wall = (performance.now() - wallBefore) / 1000
      const client = process.cpuUsage(clientBefore)
      serverCores.push((cpuSeconds(ss.child.pid) - serverBefore) / wall)
      clientCores.push((client.user + client.system) / 1e6 / wall)
      dsRates.push(await viaCatchUp(ds.ready.url, entries))
      ctx.log(`history: round ${round + 1}/${rounds}: statestream ${fmt(ssRates.at(-1) ?? 0)} entries/s, peer ${fmt(dsRates.at(-1) ?? 0)} entries/s`)
    }
    // What keeping the windows costs: the same reads by a client that keeps none of them.
    for (let round = 0; round < rounds; round++) keepNothing.push(await viaClient(ss.ready.url, entries, 0))
    perWindow = await windowCpu(ss.ready.url, ss.child.pid, ctx.quick ? 1 : 3)
    ctx.log(`history: server CPU per closed-window fetch ${fmt(perWindow.window)} µs, per 304 ${fmt(perWindow.notModified)} µs`)
  } finally {
    await Promise.all([ss.child.stop(), ds.child.stop()])
  }
  // The ceiling: the same messages parsed and applied in this process, one round after each
  // of statestream's (above, the reads and this alternate per round so both see the same machine).
  const s = median(ssRates)
  const d = median(dsRates)
  const c = median(ceiling)
  return [
    {
      workload: '3 History',
      metric: `client materialises every state of a ${fmt(entries)}-entry stream from its windows`,
      unit: 'entries/s',
      statestream: s,
      peer: 'Durable Streams ref. server, catch-up read of the same messages, each applied',
      peerValue: d,
      ratio: s / d,
      ratioMeaning: 'statestream / peer',
      target: '≥ 0.8 of the client-side ceiling',
      met: s / c >= 0.8,
      rounds: { statestream: ssRates, peer: dsRates, ceiling },
      note:
        `${ctx.quick ? 'QUICK: 50k entries, not 1M. ' : ''}${buildNote} ` +
        `Client-side ceiling, JSON.parse + apply of the same messages from one text, no I/O, a round after each of statestream's: ${fmt(c)} entries/s ` +
        `(statestream reaches ${fmt(s / c, 2)} of it; target 0.8). CPU while measured: server ${fmt(median(serverCores), 2)} cores, ` +
        `client ${fmt(median(clientCores), 2)} cores. The client keeps up to ${fmt(KEPT_BYTES / 1024 / 1024)} MiB of the windows it read ` +
        `(so a later read fetches nothing); a client keeping none reads at ${fmt(median(keepNothing))} entries/s.`,
    },
    {
      workload: '3 History',
      metric: `server CPU per closed-window fetch (${fmt(perWindow.bytes / 1024, 0)} KB, 1000 entries), 4 connections`,
      unit: 'µs',
      statestream: perWindow.window,
      peer: 'the same requests with If-None-Match (304)',
      peerValue: perWindow.notModified,
      ratio: perWindow.notModified / perWindow.window,
      ratioMeaning: '304 / window',
      target: '— (reported)',
      met: null,
      note: `Server CPU (user + system, from /proc) over the requests of ${ctx.quick ? 1 : 3} s, divided by their number; includes Node's HTTP and Fastify.`,
    },
  ]
}
