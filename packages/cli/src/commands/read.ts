/**
 * Reading history: `get <name>` (the state at a time or after a seq) and `history <name>` (NDJSON
 * of every state, or every entry, over a range; without `--to` it runs on into the live tail).
 */
import { ErrorCode } from '@statestream/client'
import type { HistoryState, Json } from '@statestream/client'
import { entriesUpToSeq, replay } from '@statestream/common'
import type { Command } from 'commander'
import { countArg, timeArg } from '../args.ts'
import { CliError, EXIT, usageError } from '../exit-codes.ts'
import { LineWriter } from '../lines.ts'
import type { CommandDeps } from '../program.ts'
import { startProgress } from '../progress.ts'

export function registerRead(program: Command, { run, now }: CommandDeps): void {
  program
    .command('get')
    .description('the state of a stream: now, at a time, or after an entry')
    .argument('<name>', 'stream name')
    .option('--at <time>', 'the state after every entry with ts ≤ this time', timeArg(now))
    .option('--seq <n>', 'the state after entry n', countArg)
    .option('--state', 'print the state alone, not { seq, ts, state }')
    .action((name: string, options: { at?: number; seq?: number; state?: boolean }, command: Command) =>
      run(command, async ({ client, stdout, signal }) => {
        if (options.at !== undefined && options.seq !== undefined) throw usageError('give --at or --seq, not both')
        const stream = client.stream(name)
        let answer: { seq: number | null; ts: number | null; state: unknown }
        if (options.seq !== undefined) {
          const seq = options.seq
          const window = await stream.window({ seq }, { signal })
          const count = entriesUpToSeq(window.entries, seq)
          const last = count === 0 ? window.start?.seq : window.entries[count - 1]?.seq
          if (window.start === null || last !== seq) {
            throw new CliError(ErrorCode.INVALID_PARAMETER, `seq ${seq} is past the head of "${name}"`, EXIT.USAGE)
          }
          answer = replay(window.start, window.entries, count)
        } else {
          const snapshot = await stream.snapshotAt(options.at ?? Date.now(), { signal })
          answer = snapshot ?? { seq: null, ts: null, state: null }
        }
        const value = options.state ? answer.state : answer
        stdout.write(`${JSON.stringify(value, null, stdout.isTTY ? 2 : undefined)}\n`)
      }),
    )

  program
    .command('history')
    .description('NDJSON of the states (or entries) from a time on; without --to it goes on live')
    .argument('<name>', 'stream name')
    .requiredOption('--from <time>', 'from the state at this time', timeArg(now))
    .option('--to <time>', 'up to this time, then stop (default: run on into the live tail)', timeArg(now))
    .option('--entries', 'one line per entry, { seq, ts, m }, instead of per state')
    .action((name: string, options: { from: number; to?: number; entries?: boolean }, command: Command) =>
      run(command, async ({ client, stdout, stderr, signal }) => {
        const stream = client.stream(name)
        const bounded = options.to !== undefined
        // The bar's total: the entries the range covers, when it has an end.
        const progress = startProgress('history', { stdout, stderr, toFile: false })
        if (bounded) {
          const windows = await stream.windowBounds({ from: options.from, to: options.to as number, signal })
          progress.total(windows.reduce((sum, window) => sum + window.entries, 0))
        }
        const out = new LineWriter(stdout, (text) => progress.write(text))
        try {
          const history = stream.history({ from: options.from, ...(bounded && { to: options.to as number }), signal })
          await forEach<HistoryState<Json>>(history, async (step) => {
            if (options.entries) {
              if (step.entry !== undefined) await out.line(JSON.stringify({ seq: step.seq, ts: step.ts, m: step.entry.m }))
            } else {
              await out.line(JSON.stringify({ seq: step.seq, ts: step.ts, state: step.state }))
            }
            if (step.entry !== undefined) progress.tick(1)
            // A live history emits one entry at a time: show it at once.
            if (!bounded) await out.flush()
          })
          await out.flush()
        } finally {
          progress.stop()
        }
      }),
    )
}

/**
 * Runs `each` for every value of an Observable, one at a time (the next value waits for the
 * previous `each`, so output backpressure reaches the source), until it completes or errors.
 */
export function forEach<T>(source: { subscribe(observer: object): { unsubscribe(): void } }, each: (value: T) => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let chain = Promise.resolve()
    let failed = false
    const subscription = source.subscribe({
      next: (value: T) => {
        chain = chain.then(() => (failed ? undefined : each(value))).catch((err: unknown) => {
          failed = true
          subscription?.unsubscribe()
          reject(err)
        })
      },
      error: (err: unknown) => {
        failed = true
        reject(err)
      },
      complete: () => {
        void chain.then(() => resolve(), reject)
      },
    })
  })
}
