/**
 * `export <name…> | --all [-o file]`: streams as NDJSON (format in `export-format.ts`). Each
 * stream is read window by window, in seq order, up to the head it had when its export began; the
 * next window is fetched while one is written, and nothing more is read while the output is full,
 * so memory stays bounded by a few windows however long the stream. With `-o` the file appears
 * under its name only once complete.
 */
import { createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { finished } from 'node:stream/promises'
import type { StateStreamClient } from '@statestream/client'
import type { Command } from 'commander'
import { CliError, EXIT, usageError } from '../exit-codes.ts'
import { entryLine, headerLine } from '../export-format.ts'
import type { StreamHeader } from '../export-format.ts'
import { LineWriter } from '../lines.ts'
import type { CommandDeps } from '../program.ts'
import { startProgress } from '../progress.ts'
import type { Progress } from '../progress.ts'

export function registerExport(program: Command, { run }: CommandDeps): void {
  program
    .command('export')
    .description('write streams as NDJSON that `import` rebuilds exactly (entries with seq and ts, snapshot policy, closed flag)')
    .argument('[names...]', 'the streams to export')
    .option('--all', 'every state stream of the server')
    .option('--prefix <prefix>', 'with --all: only names starting with this')
    .option('-o, --output <file>', 'write to this file (default: stdout)')
    .action((names: string[], options: { all?: boolean; prefix?: string; output?: string }, command: Command) =>
      run(command, async ({ client, stdout, stderr, signal }) => {
        if (options.all === true && names.length > 0) throw usageError('give stream names or --all, not both')
        if (options.all !== true && names.length === 0) throw usageError('give the streams to export, or --all')
        const selected = options.all === true ? await stateStreams(client, options.prefix, stderr, signal) : names
        // Every stream's header first, so the bar knows the total and a missing stream fails early.
        const headers: StreamHeader[] = []
        for (const name of selected) headers.push(await streamHeader(client, name, signal))

        const partial = options.output === undefined ? undefined : `${options.output}.partial`
        const file = partial === undefined ? undefined : createWriteStream(partial)
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

/** The names of every state stream (plain streams have no history to export: they are named on stderr). */
async function stateStreams(client: StateStreamClient, prefix: string | undefined, stderr: NodeJS.WriteStream, signal: AbortSignal): Promise<string[]> {
  const names: string[] = []
  for await (const stream of client.listStreams({ ...(prefix !== undefined && { prefix }), signal })) {
    if (stream.kind === 'state') names.push(stream.name)
    else stderr.write(`statestream: skipped "${stream.name}": not a state stream\n`)
  }
  return names
}

/** What the export of `name` starts with: its configuration and its head now. */
async function streamHeader(client: StateStreamClient, name: string, signal: AbortSignal): Promise<StreamHeader> {
  const stream = client.stream(name)
  const info = await stream.info({ signal })
  if (info.kind !== 'state' || info.snapshot === undefined) {
    throw new CliError('NOT_A_STATE_STREAM', `"${name}" is not a state stream: export carries state streams`, EXIT.CONFLICT)
  }
  // The first window starts at the creation snapshot (seq 0): its ts is the creation time.
  const first = await stream.window({ seq: 0 }, { signal })
  return { stream: name, kind: 'state', createdAt: first.start?.ts ?? 0, snapshot: info.snapshot, closed: info.closed, seq: info.seq }
}

/** Writes one stream: its header line, entries 1 … header.seq, and its end line. */
async function exportStream(client: StateStreamClient, header: StreamHeader, writer: LineWriter, progress: Progress, signal: AbortSignal): Promise<void> {
  const stream = client.stream(header.stream)
  await writer.line(JSON.stringify(header))
  let written = 0
  let next = header.seq > 0 ? stream.window({ seq: 0 }, { signal }) : undefined
  while (next !== undefined) {
    const window = await next
    // Fetch the following window while this one is written out.
    const end = window.end
    next = end !== null && end.seq < header.seq ? stream.window({ seq: end.seq }, { signal }) : undefined
    next?.catch(() => undefined)
    const before = written
    let bytes = 0
    for (const entry of window.entries) {
      if (entry.seq <= written) continue
      if (entry.seq > header.seq) break
      if (entry.seq !== written + 1) throw new CliError('INTERNAL', `"${header.stream}": entry ${written + 1} is missing from the window read`)
      const line = entryLine(entry)
      bytes += line.length + 1
      await writer.line(line)
      written = entry.seq
    }
    progress.tick(written - before, bytes)
    if (signal.aborted) return
    if (end === null && written < header.seq) throw new CliError('INTERNAL', `"${header.stream}": the open window ends at ${written}, before the head ${header.seq}`)
  }
  await writer.line(JSON.stringify({ end: header.stream, entries: written }))
}
