/**
 * `append <name> [json…]`: mutations from the arguments (one atomic batch), or NDJSON on stdin
 * sent in batches through the client's idempotent producer, so a retried batch is stored once.
 */
import type { Message, StateStream } from '@statestream/client'
import type { Command } from 'commander'
import type { Readable, Writable } from 'node:stream'
import { parseJsonText, positiveArg } from '../args.ts'
import { CliError, exitOfCode, usageError } from '../exit-codes.ts'
import { readLines } from '../lines.ts'
import type { CommandDeps } from '../program.ts'

/** Largest batch read from stdin, in messages and in bytes (well under the server's body limit). */
const BATCH_MESSAGES = 1000
const BATCH_BYTES = 512 * 1024
/**
 * A batch is sent once no further line came for this long, ms: a slow writer's lines are stored
 * as they come, not when a batch fills or stdin ends; a fast one's still go many to a request.
 */
const IDLE_FLUSH_MS = 150

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
        await appendLines(stream, stdin, stdout, options.batch, signal)
      }),
    )
}

/**
 * NDJSON from `input`, appended in batches of `batchSize` (or `BATCH_BYTES`, or what came before
 * a pause of `IDLE_FLUSH_MS`). However it ends, `{ appended, seq }` of what was stored goes to
 * `stdout` first: after a bad line, the lines before it (and nothing from it on); after Ctrl-C,
 * every line read; after a refused batch, the batches before it.
 */
async function appendLines(stream: StateStream, input: Readable, stdout: Writable, batchSize: number, signal: AbortSignal): Promise<void> {
  let batch: Message[] = []
  let bytes = 0
  let appended = 0
  let seq: number | null = null
  let firstLine = 1
  const stored = (before: string) => (appended === 0 ? 'nothing was appended' : `the lines before ${before} are appended: ${appended} messages, up to seq ${seq}`)
  const send = async () => {
    if (batch.length === 0) return
    try {
      // No signal: a batch on its way is let through, so Ctrl-C never leaves it half known.
      seq = (await stream.append(batch)).seq
    } catch (err) {
      // Say which lines were refused, and what of the lines before them is stored.
      const { code, message } = err as { code?: string; message?: string }
      throw new CliError(code ?? 'FAILED', `lines ${firstLine}-${firstLine + batch.length - 1}: ${message ?? String(err)} (${stored('them')})`, exitOfCode(code ?? 'FAILED'))
    }
    appended += batch.length
    batch = []
    bytes = 0
  }
  const lines = readLines(input, signal)[Symbol.asyncIterator]()
  try {
    for (let next = lines.next(); ; next = lines.next()) {
      // With a batch waiting, a pause in the input sends it.
      let read = batch.length === 0 ? await next : await orIdle(next, IDLE_FLUSH_MS)
      if (read === IDLE) {
        await send()
        read = await next
      }
      if (read.done === true) break
      const { line, number, bytes: size } = read.value
      const where = `stdin line ${number}`
      let message: Message
      try {
        message = asMessage(parseJsonText(line, where), where)
      } catch (err) {
        // Everything before the bad line goes in, nothing from it on: fix it and append from there.
        await send()
        const { message: problem } = err as Error
        throw usageError(`${problem} (${stored('it')}; nothing from line ${number} on)`)
      }
      if (batch.length === 0) firstLine = number
      batch.push(message)
      bytes += size
      if (batch.length >= batchSize || bytes >= BATCH_BYTES) await send()
    }
    // End of input, or Ctrl-C: what was read is sent either way.
    await send()
  } finally {
    stdout.write(`${JSON.stringify({ appended, seq })}\n`)
  }
}

const IDLE = Symbol('idle')

/** What `next` resolves to, or `IDLE` when that takes longer than `ms`. */
async function orIdle<T>(next: Promise<T>, ms: number): Promise<T | typeof IDLE> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([next, new Promise<typeof IDLE>((resolve) => (timer = setTimeout(resolve, ms, IDLE)))])
  } finally {
    clearTimeout(timer)
  }
}

function asMessage(value: unknown, where: string): Message {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw usageError(`${where} must be a JSON object such as {"merge":{…}}, {"patch":[…]} or {"set":…}`)
  }
  return value as Message
}
