/**
 * Workload 4, Time travel: the state at random times on 10k-, 100k- and 1M-entry streams. The
 * measurement is `bench/state-at.ts` (owned with the history server), run as it is in its own
 * process; this reads the JSON it writes. It times the store view's `state(name, { at })` in
 * process, without HTTP: what grows with the log, if anything, is there; HTTP adds a constant per
 * request, which could only bring the ratio closer to 1.
 */
import { runScript } from '../lib/spawn-script.ts'
import { fmt } from '../lib/stats.ts'
import type { Context, Row } from '../lib/types.ts'

interface StateAtResult {
  quick: boolean
  results: Array<{
    entries: number
    buildSeconds: number
    state: { p50Us: number; p99Us: number }
    statePlain?: { p50Us: number; p99Us: number }
    window: { p50Us: number; p99Us: number }
  }>
}

export async function timeTravelWorkload(ctx: Context): Promise<Row[]> {
  const out = await runScript<StateAtResult>('state-at.ts', ctx.quick ? ['--quick'] : [], ctx.quick ? 'state-at.last-run.json' : 'state-at.json', 900_000, ctx.log)
  const sizes = out.results
  const small = sizes[0]
  const large = sizes[sizes.length - 1]
  if (small === undefined || large === undefined) throw new Error('state-at.ts reported no sizes')
  const label = (n: number): string => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`)
  const all = sizes.map((size) => `${label(size.entries)}: ${fmt(size.state.p50Us)} µs (p99 ${fmt(size.state.p99Us)})`).join(', ')
  const windows = sizes.map((size) => `${label(size.entries)}: ${fmt(size.window.p50Us)} µs`).join(', ')
  const ratio = large.state.p50Us / small.state.p50Us
  return [
    {
      workload: '4 Time travel',
      metric: `state at a random time, p50 on ${label(large.entries)} entries, in process`,
      unit: 'µs',
      statestream: large.state.p50Us,
      peer: '',
      peerValue: null,
      ratio: null,
      ratioMeaning: '',
      target: '≤ 200 µs',
      met: large.state.p50Us <= 200,
      note:
        `p99 ${fmt(large.state.p99Us)} µs. Measured by bench/state-at.ts: ${out.quick ? 'QUICK: largest stream 100k, not 1M. ' : ''}from the checkpoints kept inside closed windows ` +
        `(every 64 entries, once a window was replayed). The same questions to a store keeping none, in alternating rounds: ` +
        `${sizes.map((size) => `${label(size.entries)}: ${fmt(size.statePlain?.p50Us ?? Number.NaN)} µs`).join(', ')} (p50).`,
    },
    {
      workload: '4 Time travel',
      metric: `state at a random time, p50 on ${label(large.entries)} entries vs on ${label(small.entries)}`,
      unit: 'µs',
      statestream: large.state.p50Us,
      peer: `the same on ${label(small.entries)} entries`,
      peerValue: small.state.p50Us,
      ratio,
      ratioMeaning: `${label(large.entries)} / ${label(small.entries)}`,
      target: '≤ 2×',
      met: ratio <= 2,
      note:
        `${out.quick ? 'QUICK: largest stream 100k, not 1M. ' : ''}Measured by bench/state-at.ts (in process, no HTTP). ` +
        `p50 per size: ${all}. Window lookup p50: ${windows}.`,
    },
  ]
}
