/**
 * `import <file>`: rebuilds the streams of an export, state and plain. Resumable and idempotent:
 * - a stream that does not exist is created with the export's configuration (kind, content type,
 *   expiry; a state stream's creation time and snapshot policy); one that does must have the same,
 *   and its last message must be the export's message of that seq (else it is another history,
 *   and the import refuses it);
 * - messages the target already has are skipped; the rest are appended in order, in batches (a
 *   state entry with its own `ts`), each with `Stream-Seq` set to its last seq, so a batch can never
 *   be stored twice — not by a retry, not by a second import running at the same time;
 * - a stream closed in the export is closed once its last message is in, so an interrupted import
 *   never leaves a closed stream short of its end;
 * - after a Ctrl-C, a lost connection or a bad line, running the (complete) import again carries
 *   on where the target stands.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Command } from 'commander'
import { CliError, EXIT, invalidExport, usageError } from '../exit-codes.ts'
import { parseExportLine } from '../export-format.ts'
import type { ExportLine } from '../export-format.ts'
import { readLines } from '../lines.ts'
import type { CommandDeps } from '../program.ts'
import { startProgress } from '../progress.ts'
import { StreamImport } from './stream-import.ts'

/** The code of a file cut short, whose lines so far are all imported. */
const TRUNCATED = 'TRUNCATED'

export function registerImport(program: Command, { run }: CommandDeps): void {
  program
    .command('import')
    .description('rebuild the streams of an export (run it again to resume after an interruption)')
    .argument('<file>', 'an export file, or - for stdin')
    .option('--batch <n>', 'entries per append request (at most 1 MiB each)', (value) => Number(value), 5000)
    .action((file: string, options: { batch: number }, command: Command) =>
      run(command, async ({ client, server, stdin, stdout, stderr, signal }) => {
        if (!Number.isSafeInteger(options.batch) || options.batch < 1) throw usageError('--batch must be a positive integer')
        const input = file === '-' ? stdin : createReadStream(file)
        const size = file === '-' ? undefined : (await stat(file).catch(() => undefined))?.size
        if (file !== '-' && size === undefined) throw usageError(`cannot read "${file}"`)
        const progress = startProgress('import', { stdout, stderr, toFile: true }, { by: 'bytes', ...(size !== undefined && { total: size }) })
        let current: StreamImport | undefined
        let sawHeader = false
        try {
          for await (const { line, number, bytes, terminated } of readLines(input, signal)) {
            const at = `${file} line ${number}`
            const parsed = parse(line, at, terminated)
            if (!sawHeader && parsed.type !== 'header') throw invalidExport(`${at}: not a statestream export (no header line)`)
            switch (parsed.type) {
              case 'header':
                if (sawHeader) throw invalidExport(`${at}: a second header line`)
                sawHeader = true
                break
              case 'stream':
                if (current !== undefined) throw invalidExport(`${at}: stream "${parsed.value.stream}" starts before "${current.name}" ended`)
                current = await StreamImport.open(client, server, parsed.value, { batch: options.batch, signal })
                break
              case 'entry':
              case 'plain':
                if (current === undefined) throw invalidExport(`${at}: an entry outside any stream`)
                await current.line(parsed, at)
                progress.tick(1, bytes)
                continue
              case 'end':
                if (current === undefined || parsed.value.end !== current.name) throw invalidExport(`${at}: an end line for a stream that did not start`)
                // Said as each stream is done: a later failure leaves no doubt about the ones before it.
                progress.write(`${await current.finish(parsed.value.entries, at)}\n`)
                current = undefined
                break
            }
            progress.tick(0, bytes)
          }
          if (signal.aborted) {
            await current?.settle()
            throw new CliError('INTERRUPTED', 'import stopped; run the same import again to resume', EXIT.INTERRUPTED)
          }
          if (!sawHeader) throw invalidExport(`${file} is empty: not a statestream export`)
          if (current !== undefined) {
            throw new CliError(TRUNCATED, `${file} ends inside stream "${current.name}" (its entries so far are imported; import the complete file to finish it)`, EXIT.USAGE)
          }
        } catch (err) {
          // A file cut short: its entries so far are imported, the last partial batch too.
          if ((err as { code?: unknown }).code === TRUNCATED) await current?.flush()
          // Whatever else stopped the import, the batch on its way is let through: a resume starts after it.
          else await current?.settle()
          throw err
        } finally {
          progress.stop()
        }
      }),
    )
}

/** A line of the file, or the error that says what is wrong with it. */
function parse(line: string, at: string, terminated: boolean): ExportLine {
  try {
    return parseExportLine(line)
  } catch (err) {
    // The last line, cut short: the file was not written to its end.
    if (!terminated) throw new CliError(TRUNCATED, `${at} is cut short: the file ends inside it`, EXIT.USAGE)
    const message = (err as Error).message
    if (message.startsWith('export format version')) throw new CliError('EXPORT_VERSION', `${at}: ${message}`, EXIT.USAGE)
    throw invalidExport(`${at}: ${message}`)
  }
}
