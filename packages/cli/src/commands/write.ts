/**
 * `append <name> [json…]`: mutations from the arguments (one atomic batch), or NDJSON on stdin
 * sent in batches through the client's idempotent producer, so a retried batch is stored once.
 */
import type { Message } from '@statestream/client'
import type { Command } from 'commander'
import { parseJsonText, positiveArg } from '../args.ts'
import { CliError, exitOfCode, usageError } from '../exit-codes.ts'
import { readLines } from '../lines.ts'
import type { CommandDeps } from '../program.ts'

/** Largest batch read from stdin, in messages and in bytes (well under the server's body limit). */
const BATCH_MESSAGES = 1000
const BATCH_BYTES = 512 * 1024

export function registerWrite(program: Command, { run }: CommandDeps): void {
  program
    .command('append')
    .description('append mutations: each argument is one ({"merge":…}, {"patch":[…]} or {"set":…}), or NDJSON on stdin')
    .argument('<name>', 'stream name')
    .argument('[json...]', 'messages, appended together as one atomic batch')
    .option('--batch <n>', 'messages per request when reading stdin', positiveArg, BATCH_MESSAGES)
    .addHelpText(
      'after',
      `
Examples:
  statestream append weather/a '{"merge":{"t":21.5}}'
  statestream append weather/a '{"set":{"t":20}}' '{"patch":[{"op":"add","path":"/rain","value":0}]}'
  cat readings.ndjson | statestream append weather/a`,
    )
    .action((name: string, messages: string[], options: { batch: number }, command: Command) =>
      run(command, async ({ client, stdin, stdout, signal }) => {
        const stream = client.stream(name)
        if (messages.length > 0) {
          const batch = messages.map((text, i) => asMessage(parseJsonText(text, `argument ${i + 1}`), `argument ${i + 1}`))
          const { seq } = await stream.append(batch, { signal })
          stdout.write(`${JSON.stringify({ appended: batch.length, seq })}\n`)
          return
        }
        if (stdin.isTTY) throw usageError('give messages as arguments, or NDJSON on stdin')
        let batch: Message[] = []
        let bytes = 0
        let appended = 0
        let seq: number | undefined
        let firstLine = 1
        const send = async () => {
          if (batch.length === 0) return
          try {
            seq = (await stream.append(batch, { signal })).seq
          } catch (err) {
            // Say which lines were refused and that the ones before them are stored.
            const { code, message } = err as { code?: string; message?: string }
            throw new CliError(
              code ?? 'FAILED',
              `lines ${firstLine}-${firstLine + batch.length - 1}: ${message ?? String(err)}` +
                (appended > 0 ? ` (the ${appended} messages before them were appended)` : ''),
              exitOfCode(code ?? 'FAILED'),
            )
          }
          appended += batch.length
          batch = []
          bytes = 0
        }
        for await (const { line, number, bytes: size } of readLines(stdin, signal)) {
          if (batch.length === 0) firstLine = number
          batch.push(asMessage(parseJsonText(line, `stdin line ${number}`), `stdin line ${number}`))
          bytes += size
          if (batch.length >= options.batch || bytes >= BATCH_BYTES) await send()
        }
        if (!signal.aborted) await send()
        stdout.write(`${JSON.stringify({ appended, ...(seq !== undefined && { seq }) })}\n`)
      }),
    )
}

function asMessage(value: unknown, where: string): Message {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw usageError(`${where} must be a JSON object such as {"merge":{…}}, {"patch":[…]} or {"set":…}`)
  }
  return value as Message
}
