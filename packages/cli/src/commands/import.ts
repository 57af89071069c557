/**
 * `import <file>`: rebuilds the streams of an export. Resumable and idempotent:
 * - a stream that does not exist is created with the export's creation time and snapshot policy;
 *   one that does must have the same configuration, and its last entry must be the export's entry
 *   of that seq (else it is another history, and the import refuses it);
 * - entries the target already has are skipped; the rest are appended in order, in batches, each
 *   with its own `ts` and with `Stream-Seq` set to its last seq, so a batch can never be stored
 *   twice — not by a retry, not by a second import running at the same time;
 * - after a Ctrl-C (or a lost connection), running the same import again carries on where the
 *   target stands.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Command } from 'commander'
import { CliError, EXIT, usageError } from '../exit-codes.ts'
import { parseExportLine } from '../export-format.ts'
import type { StreamHeader } from '../export-format.ts'
import { readLines } from '../lines.ts'
import type { CommandDeps } from '../program.ts'
import { startProgress } from '../progress.ts'
import { StreamImport } from './stream-import.ts'

export function registerImport(program: Command, { run }: CommandDeps): void {
  program
    .command('import')
    .description('rebuild the streams of an export (run it again to resume after an interruption)')
    .argument('<file>', 'an export file, or - for stdin')
    .option('--batch <n>', 'entries per append request (at most 1 MiB each)', (value) => Number(value), 5000)
    .action((file: string, options: { batch: number }, command: Command) =>
      run(command, async ({ client, stdin, stdout, stderr, signal }) => {
        if (!Number.isSafeInteger(options.batch) || options.batch < 1) throw usageError('--batch must be a positive integer')
        const input = file === '-' ? stdin : createReadStream(file)
        const size = file === '-' ? undefined : (await stat(file).catch(() => undefined))?.size
        if (file !== '-' && size === undefined) throw usageError(`cannot read "${file}"`)
        const progress = startProgress('import', { stdout, stderr, toFile: true }, { by: 'bytes', ...(size !== undefined && { total: size }) })
        let current: StreamImport | undefined
        let sawHeader = false
        const done: string[] = []
        try {
          for await (const { line, number, bytes } of readLines(input, signal)) {
            let parsed
            try {
              parsed = parseExportLine(line)
            } catch (err) {
              throw usageError(`${file} line ${number}: ${(err as Error).message}`)
            }
            if (!sawHeader && parsed.type !== 'header') throw usageError(`${file} line ${number}: not a statestream export (no header line)`)
            const at = `${file} line ${number}`
            switch (parsed.type) {
              case 'header':
                sawHeader = true
                break
              case 'stream':
                if (current !== undefined) throw usageError(`${at}: stream "${parsed.value.stream}" starts before "${current.name}" ended`)
                current = await StreamImport.open(client, parsed.value as StreamHeader, { batch: options.batch, signal })
                break
              case 'entry':
                if (current === undefined) throw usageError(`${at}: an entry outside any stream`)
                await current.entry(parsed.value, at)
                progress.tick(1, bytes)
                continue
              case 'end':
                if (current === undefined || parsed.value.end !== current.name) throw usageError(`${at}: an end line for a stream that did not start`)
                done.push(await current.finish(parsed.value.entries, at))
                current = undefined
                break
            }
            progress.tick(0, bytes)
          }
          if (signal.aborted) {
            await current?.settle()
            throw new CliError('INTERRUPTED', 'import stopped; run the same import again to resume', EXIT.INTERRUPTED)
          }
          if (!sawHeader) throw usageError(`${file} is empty: not a statestream export`)
          if (current !== undefined) {
            await current.settle()
            throw new CliError('TRUNCATED', `${file} ends inside stream "${current.name}" (its entries so far are imported)`)
          }
        } finally {
          progress.stop()
        }
        for (const line of done) stdout.write(`${line}\n`)
      }),
    )
}
