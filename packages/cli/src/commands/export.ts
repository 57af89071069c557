/**
 * `export <name…> | --all [-o file]`: streams of any kind as NDJSON (format in `export-format.ts`,
 * each stream's reading in `export-stream.ts`). Every stream's header is read first, so a missing
 * one fails before anything is written; with `-o` the file appears under its name only once
 * complete.
 */
import type { WriteStream } from 'node:fs'
import { open, rename, rm, stat } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { finished } from 'node:stream/promises'
import { ErrorCode } from '@statestream/client'
import type { StateStreamClient } from '@statestream/client'
import type { Command } from 'commander'
import { CliError, EXIT, usageError } from '../exit-codes.ts'
import { headerLine } from '../export-format.ts'
import type { StreamHeader } from '../export-format.ts'
import { LineWriter } from '../lines.ts'
import type { CommandDeps } from '../program.ts'
import { startProgress } from '../progress.ts'
import { exportStream, streamHeader } from './export-stream.ts'

export function registerExport(program: Command, { run }: CommandDeps): void {
  program
    .command('export')
    .description('write streams as NDJSON that `import` rebuilds exactly (state and plain streams: entries with seq and ts, messages, snapshot policy, expiry, closed flag)')
    .argument('[names...]', 'the streams to export')
    .option('--all', 'every stream of the server, state and plain')
    .option('--prefix <prefix>', 'with --all: only names starting with this')
    .option('-o, --output <file>', 'write to this file (default: stdout)')
    .action((names: string[], options: { all?: boolean; prefix?: string; output?: string }, command: Command) =>
      run(command, async ({ client, stdout, stderr, signal }) => {
        if (options.all === true && names.length > 0) throw usageError('give stream names or --all, not both')
        if (options.all !== true && names.length === 0) throw usageError('give the streams to export, or --all')
        const selected = options.all === true ? await allStreams(client, options.prefix, signal) : names
        // Every stream's header first, so the bar knows the total and a missing stream fails early.
        const headers: StreamHeader[] = []
        for (const name of selected) {
          try {
            headers.push(await streamHeader(client, name, signal))
          } catch (err) {
            // Listed, then deleted or expired before its turn: --all exports what there is.
            const code = (err as { code?: unknown }).code
            if (options.all !== true || (code !== ErrorCode.STREAM_NOT_FOUND && code !== ErrorCode.STREAM_DELETED)) throw err
            stderr.write(`statestream: skipped "${name}": it was deleted during the export\n`)
          }
        }

        const partial = options.output === undefined ? undefined : `${options.output}.partial`
        const file = partial === undefined || options.output === undefined ? undefined : await openOutput(options.output, partial)
        const out = file ?? stdout
        const progress = startProgress('export', { stdout, stderr, toFile: file !== undefined })
        progress.total(headers.reduce((sum, header) => sum + header.seq, 0))
        const writer = new LineWriter(out, file === undefined ? (text) => progress.write(text) : undefined)
        try {
          await writer.line(headerLine())
          for (const header of headers) {
            if (signal.aborted) break
            await exportStream(client, header, writer, progress, signal)
          }
          await writer.flush()
          if (file !== undefined && partial !== undefined && options.output !== undefined) {
            file.end()
            await finished(file)
            if (signal.aborted) await rm(partial, { force: true })
            else await rename(partial, options.output)
          }
        } catch (err) {
          if (file !== undefined && partial !== undefined) {
            file.destroy()
            await rm(partial, { force: true })
          }
          throw err
        } finally {
          progress.stop()
        }
      }),
    )
}

/**
 * The stream writing `partial`, the file renamed to `output` once complete. A path that cannot be
 * written is refused here, in one line, before anything is exported.
 */
async function openOutput(output: string, partial: string): Promise<WriteStream> {
  if ((await stat(output).catch(() => undefined))?.isDirectory() === true) throw usageError(`-o ${output} is a directory: give the file to write`)
  let handle: FileHandle
  try {
    handle = await open(partial, 'w')
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException
    // "ENOENT: no such file or directory, open '…'": the reason, without the code and the call.
    const reason = /^[A-Z]+: ([^,]+)/.exec(message)?.[1] ?? message
    throw new CliError(code ?? 'FAILED', `-o ${output}: cannot create ${partial}: ${reason}`, EXIT.USAGE)
  }
  const file = handle.createWriteStream()
  // A failure while writing (a full disk) surfaces at the next write or at the end, not as a crash.
  file.on('error', () => undefined)
  return file
}

/** The names of every stream (whose name starts with `prefix`), in name order. */
async function allStreams(client: StateStreamClient, prefix: string | undefined, signal: AbortSignal): Promise<string[]> {
  const names: string[] = []
  for await (const stream of client.listStreams({ ...(prefix !== undefined && { prefix }), signal })) names.push(stream.name)
  return names
}
