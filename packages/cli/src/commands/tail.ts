/**
 * `tail <name…>`: one or several streams live, over one connection. Each stream's current state
 * first, then every entry as the change it made (or NDJSON with `--json`). The client's live
 * cursor reconnects after a drop or a server restart and resumes after the last entry shown, so
 * nothing is skipped or shown twice; the connection's status goes to stderr at a terminal.
 */
import type { Json } from '@statestream/client'
import type { Command } from 'commander'
import { changeLine, stateLine } from '../change-format.ts'
import type { CommandDeps } from '../program.ts'

export function registerTail(program: Command, { run }: CommandDeps): void {
  program
    .command('tail')
    .description('follow streams live: the current state, then each change (Ctrl-C to stop)')
    .argument('<name...>', 'one or several stream names')
    .option('--json', 'NDJSON: { stream, seq, ts, state } first, then { stream, seq, ts, m } per entry')
    .action((names: string[], options: { json?: boolean }, command: Command) =>
      run(command, async ({ client, stdout, stderr, signal }) => {
        const live = client.live<Json>(names)
        const last = new Map<string, Json>()
        await new Promise<void>((resolve, reject) => {
          const status = live.status$.subscribe((value) => {
            if (stderr.isTTY && value !== 'closed') stderr.write(`statestream: ${value}\n`)
          })
          const subscription = live.states$.subscribe({
            next: ({ stream, seq, ts, state, entry }) => {
              if (options.json) {
                const line = entry === undefined ? { stream, seq, ts, state } : { stream, seq, ts, m: entry.m }
                stdout.write(`${JSON.stringify(line)}\n`)
              } else {
                const before = last.get(stream)
                stdout.write(
                  `${entry === undefined || before === undefined ? stateLine(stream, seq, ts, state) : changeLine(stream, seq, ts, before, state)}\n`,
                )
              }
              last.set(stream, state)
            },
            error: (err: unknown) => {
              status.unsubscribe()
              reject(err)
            },
            complete: () => {
              status.unsubscribe()
              resolve()
            },
          })
          signal.addEventListener(
            'abort',
            () => {
              subscription.unsubscribe()
              status.unsubscribe()
              resolve()
            },
            { once: true },
          )
        })
      }),
    )
}
