/**
 * The import of one stream of an export (see `import.ts` for the guarantees). Its lines arrive
 * one at a time; the messages the target lacks are appended in batches, one request in flight
 * while the next batch is read, each batch seq-checked with `Stream-Seq` so that none is ever
 * stored twice.
 *
 * Each line is one message of the target: an entry of a state stream, a message of a JSON stream,
 * or the bytes of one line of a bytes stream (sent as one message, so the copy's seq counts lines).
 */
import { ErrorCode } from '@statestream/client'
import type { Message, StateStreamClient } from '@statestream/client'
import { encodeOffset } from '@statestream/common'
import type { ServerAddress } from '../context.ts'
import { invalidExport } from '../exit-codes.ts'
import { isJsonType } from '../export-format.ts'
import type { ExportLine, StreamHeader } from '../export-format.ts'
import { conflict, openTarget, sameMessage } from './import-target.ts'
import type { LastMessage, Target } from './import-target.ts'

/** Largest body of one append, in bytes: well under the server's default limit. */
const BATCH_BYTES = 1024 * 1024

/** What one line brings: the message as the target would hold it, and what to send (a state entry's message, JSON text, bytes). */
type Item = { last: LastMessage; send: Message | string | Buffer; size: number }

export class StreamImport {
  readonly name: string
  readonly #client: StateStreamClient
  readonly #header: StreamHeader
  readonly #target: Target
  /** Messages of the export's JSON and state streams are sent many to a request; bytes, one. */
  readonly #batchSize: number
  /** Lines of this stream seen so far: the target's seq of the latest. */
  #lines = 0
  /** The export's seq of the latest line (bytes lines may jump: one holds several messages). */
  #seq = 0
  #batch: Array<Message | string | Buffer> = []
  #batchBytes = 0
  #inFlight: Promise<void> = Promise.resolve()
  #appended = 0

  private constructor(client: StateStreamClient, header: StreamHeader, target: Target, batch: number) {
    this.name = header.stream
    this.#client = client
    this.#header = header
    this.#target = target
    this.#batchSize = header.kind === 'plain' && !isJsonType(header.contentType) ? 1 : batch
  }

  /** Creates the target stream, or checks the one there is of the same configuration, and tells where it stands. */
  static async open(client: StateStreamClient, server: ServerAddress, header: StreamHeader, options: { batch: number; signal: AbortSignal }): Promise<StreamImport> {
    return new StreamImport(client, header, await openTarget(client, server, header, options.signal), options.batch)
  }

  /** Takes the stream's next line: skipped when the target has it, else batched for appending. */
  async line(line: ExportLine, at: string): Promise<void> {
    const item = this.#item(line, at)
    this.#lines += 1
    const head = this.#target.head
    if (this.#lines < head) return
    if (this.#lines === head) {
      if (!sameMessage(this.#target.last, item.last)) throw conflict(this.name, `has another entry ${head}: it is another history`)
      return
    }
    if (this.#target.closed) throw conflict(this.name, `is closed at seq ${head}, before the export's end`)
    this.#batch.push(item.send)
    this.#batchBytes += item.size + 1
    if (this.#batch.length >= this.#batchSize || this.#batchBytes >= BATCH_BYTES) await this.#send()
  }

  /** After the stream's last line: appends what is left, checks the target's head, and closes it if the export's was. */
  async finish(entries: number, at: string): Promise<string> {
    const complete = this.#header.kind === 'plain' && !isJsonType(this.#header.contentType) ? this.#seq >= this.#header.seq : this.#seq === this.#header.seq
    if (entries !== this.#lines || !complete) {
      throw invalidExport(`${at}: "${this.name}" should have ${entries} lines up to seq ${this.#header.seq}, the file has ${this.#lines} up to ${this.#seq}`)
    }
    await this.#send()
    await this.#inFlight
    const log = this.#client.log(this.name)
    const info = await log.info()
    if (info.seq !== this.#lines) throw conflict(this.name, `ends at seq ${info.seq}, the export at ${this.#lines}`)
    if (this.#header.closed && !info.closed) await log.close()
    const skipped = Math.min(this.#target.head, this.#lines)
    return `imported ${this.name}: ${this.#appended} entries appended, ${skipped} already there, seq ${info.seq}${this.#header.closed ? ', closed' : ''}`
  }

  /** Appends what is batched and waits for it (the file ends here, cut short): its failure is thrown. */
  async flush(): Promise<void> {
    await this.#send()
    await this.#inFlight
  }

  /** Waits for the request in flight, whatever its outcome (before stopping). */
  async settle(): Promise<void> {
    await this.#inFlight.catch(() => undefined)
  }

  /** The line as a message of this stream, checked to come next. */
  #item(line: ExportLine, at: string): Item {
    const header = this.#header
    const seq = line.type === 'entry' || line.type === 'plain' ? line.value.seq : 0
    const gapless = header.kind === 'state' || isJsonType(header.contentType)
    if (gapless ? seq !== this.#seq + 1 : seq <= this.#seq) {
      throw invalidExport(`${at}: expected ${gapless ? `entry ${this.#seq + 1}` : `a seq after ${this.#seq}`} of "${this.name}", found ${seq}`)
    }
    if (gapless && seq > header.seq) throw invalidExport(`${at}: entry ${seq} is past the seq ${header.seq} its header gives`)
    this.#seq = seq
    if (header.kind === 'state') {
      if (line.type !== 'entry') throw invalidExport(`${at}: "${this.name}" is a state stream: its lines are entries {"seq","ts","m"}`)
      const message = { ...line.value.m, ts: line.value.ts } as Message
      return { last: { kind: 'entry', entry: line.value }, send: message, size: JSON.stringify(message).length }
    }
    if (line.type !== 'plain') throw invalidExport(`${at}: "${this.name}" is a plain stream: its lines are messages {"seq","json"} or {"seq","b64"}`)
    const value = line.value
    if (isJsonType(header.contentType)) {
      if (!('json' in value)) throw invalidExport(`${at}: "${this.name}" is a JSON stream: its lines are {"seq","json"}`)
      const text = JSON.stringify(value.json)
      return { last: { kind: 'json', text }, send: text, size: text.length }
    }
    if (!('bytes' in value)) throw invalidExport(`${at}: "${this.name}" is a stream of ${header.contentType}: its lines are {"seq","b64"}`)
    return { last: { kind: 'bytes', bytes: value.bytes }, send: value.bytes, size: value.bytes.length }
  }

  /** Starts appending the batch once the previous request succeeded (in order: Stream-Seq requires it). */
  async #send(): Promise<void> {
    // The previous request's failure surfaces here, before anything later is sent.
    await this.#inFlight
    if (this.#batch.length === 0) return
    const batch = this.#batch
    const last = this.#lines
    this.#batch = []
    this.#batchBytes = 0
    this.#inFlight = this.#append(batch, last)
    // Rejections are reported by the next `#send` or `finish`; until then they are not unhandled.
    this.#inFlight.catch(() => undefined)
  }

  /** Appends `batch`, the target's messages up to `last`; a batch stored already (by an earlier try or another import) is done. */
  async #append(batch: Array<Message | string | Buffer>, last: number): Promise<void> {
    const header = this.#header
    const streamSeq = encodeOffset(last)
    try {
      // No signal: a batch on its way is let through, so Ctrl-C stops between two batches.
      let seq: number
      if (header.kind === 'state') {
        seq = (await this.#client.stream(this.name).append(batch as Message[], { streamSeq })).seq
      } else {
        const first = batch[0]
        const body = Buffer.isBuffer(first) ? first : `[${(batch as string[]).join(',')}]`
        seq = (await this.#client.log(this.name).append(body, { contentType: header.contentType, streamSeq })).seq
      }
      if (seq !== last) throw conflict(this.name, `took other appends during the import (head ${seq}, expected ${last})`)
      this.#appended += batch.length
    } catch (err) {
      // Seq-checked: the batch is there already when another import (or an earlier try) stored it.
      if ((err as { code?: unknown }).code !== ErrorCode.STREAM_SEQ_REGRESSION) throw err
      const info = await this.#client.log(this.name).info()
      if (info.seq < last) throw err
    }
  }
}
