/**
 * Streams as things: `ls [prefix]`, `create <name>`, `inspect <name>` (the window layout).
 */
import type { Command } from 'commander'
import { countArg, positiveArg, timeArg } from '../args.ts'
import { usageError } from '../exit-codes.ts'
import type { CommandDeps } from '../program.ts'
import { table } from '../table.ts'
import { formatTime } from '../time.ts'

export function registerStreams(program: Command, { run, now }: CommandDeps): void {
  program
    .command('ls')
    .description('list streams, in name order')
    .argument('[prefix]', 'only names starting with this')
    .option('--json', 'one JSON object per stream (NDJSON)')
    .option('--limit <n>', 'at most this many streams', positiveArg)
    .action((prefix: string | undefined, options: { json?: boolean; limit?: number }, command: Command) =>
      run(command, async ({ client, stdout, signal }) => {
        const rows: string[][] = []
        let count = 0
        for await (const stream of client.listStreams({ ...(prefix !== undefined && { prefix }), signal })) {
          if (options.limit !== undefined && count >= options.limit) break
          count += 1
          if (options.json) stdout.write(`${JSON.stringify(stream)}\n`)
          else {
            rows.push([
              stream.name,
              stream.kind,
              String(stream.seq),
              String(stream.entries),
              String(stream.bytes),
              stream.entries === 0 ? '-' : formatTime(stream.ts),
              stream.closed ? 'closed' : '',
            ])
          }
        }
        if (!options.json) stdout.write(table(['NAME', 'KIND', 'SEQ', 'ENTRIES', 'BYTES', 'LAST', ''], rows))
      }),
    )

  program
    .command('create')
    .description('create a state stream (nothing changes when it exists with the same configuration)')
    .argument('<name>', 'stream name, e.g. weather/station-1')
    .option('--snapshot-entries <n>', 'a snapshot after this many entries', positiveArg)
    .option('--snapshot-bytes <n>', 'a snapshot after this many bytes of mutations', positiveArg)
    .option('--snapshot-ms <n>', 'a snapshot after this many ms of stream time', positiveArg)
    .action((name: string, options: { snapshotEntries?: number; snapshotBytes?: number; snapshotMs?: number }, command: Command) =>
      run(command, async ({ client, stdout }) => {
        const snapshot = {
          ...(options.snapshotEntries !== undefined && { entries: options.snapshotEntries }),
          ...(options.snapshotBytes !== undefined && { bytes: options.snapshotBytes }),
          ...(options.snapshotMs !== undefined && { ms: options.snapshotMs }),
        }
        const { created } = await client.stream(name).create({ snapshot })
        stdout.write(`${created ? 'created' : 'exists'} ${name}\n`)
      }),
    )

  program
    .command('fork')
    .description("a new stream whose history up to a point is the source's (shared, not copied), to diverge from there")
    .argument('<name>', 'the source stream')
    .argument('<new>', 'the name of the fork')
    .option('--at <time>', 'after the last entry with ts ≤ this time', timeArg(now))
    .option('--seq <n>', 'after entry n', countArg)
    .action((name: string, fork: string, options: { at?: number; seq?: number }, command: Command) =>
      run(command, async ({ client, stdout, signal }) => {
        if ((options.at === undefined) === (options.seq === undefined)) throw usageError('give --at or --seq (one of them)')
        const point = options.seq !== undefined ? { seq: options.seq } : { at: options.at as number }
        const { created } = await client.stream(name).fork(fork, point, { signal })
        const info = await client.stream(fork).info({ signal })
        stdout.write(`${created ? 'forked' : 'exists'} ${fork} from ${name} at seq ${info.seq}\n`)
      }),
    )

  program
    .command('inspect')
    .description('the window layout of a stream: each window\'s bounds, entries and bytes')
    .argument('<name>', 'stream name')
    .option('--from <time>', 'from this time (default: the beginning)', timeArg(now))
    .option('--to <time>', 'up to this time (default: now)', timeArg(now))
    .option('--json', 'the stream and its windows as one JSON object')
    .action((name: string, options: { from?: number; to?: number; json?: boolean }, command: Command) =>
      run(command, async ({ client, stdout, signal }) => {
        const stream = client.stream(name)
        const info = await stream.info({ signal })
        const windows = await stream.windowBounds({
          ...(options.from !== undefined && { from: options.from }),
          ...(options.to !== undefined && { to: options.to }),
          signal,
        })
        if (options.json) {
          stdout.write(`${JSON.stringify({ ...info, windows })}\n`)
          return
        }
        const policy = info.snapshot
        stdout.write(
          `${info.name}  ${info.kind}  seq ${info.seq}${info.closed ? '  closed' : ''}` +
            (policy === undefined ? '' : `  snapshots every ${policy.entries} entries / ${policy.bytes} bytes / ${policy.ms} ms`) +
            '\n\n',
        )
        const rows = windows.map((window, i) => [
          String(i + 1),
          `${window.start.seq}`,
          formatTime(window.start.ts),
          window.end === null ? 'open' : `${window.end.seq}`,
          window.end === null ? '' : formatTime(window.end.ts),
          String(window.entries),
          String(window.bytes),
        ])
        stdout.write(table(['#', 'START', 'START TS', 'END', 'END TS', 'ENTRIES', 'BYTES'], rows))
        const entries = windows.reduce((sum, w) => sum + w.entries, 0)
        const bytes = windows.reduce((sum, w) => sum + w.bytes, 0)
        stdout.write(`\n${windows.length} windows, ${entries} entries, ${bytes} bytes\n`)
      }),
    )
}
