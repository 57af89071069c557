/**
 * An over-limit body always gets its 413: the server reads the rest of the body (up to a hard
 * cap) before it answers, so the sender sees the answer instead of a connection closed under it.
 * Real HTTP: undici writes the whole body while the server decides.
 */
import { once } from 'node:events'
import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { DEFAULT_BODY_LIMIT } from '@statestream/common'
import { request } from 'undici'
import { describe, expect } from 'vitest'
import { liveTest as test, createPlainStream } from './support/live-server.ts'

describe('bodies over the limit', () => {
  test('ten 11 MiB appends in a row each get 413 PAYLOAD_TOO_LARGE, and the stream is unchanged', async ({ serve }) => {
    const { url } = await serve()
    await createPlainStream(url, 'big', 'application/octet-stream')
    const body = Buffer.alloc(DEFAULT_BODY_LIMIT + 1024 * 1024, 1)
    for (let i = 0; i < 10; i++) {
      const response = await request(`${url}/v1/stream/big`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body })
      expect(response.statusCode, `try ${i}`).toBe(413)
      expect(((await response.body.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE')
    }
    const head = await request(`${url}/v1/stream/big`, { method: 'HEAD' })
    await head.body.dump()
    expect(head.headers['stream-next-offset']).toBe('0000000000000000')
  })

  test('the whole over-limit body is read before the 413: the connection then serves the next request', async ({ serve }) => {
    const { url } = await serve({ bodyLimit: 64 * 1024 })
    await createPlainStream(url, 'keep', 'text/plain')
    const { hostname, port } = new URL(url)
    const socket = connect(Number(port), hostname)
    await once(socket, 'connect')
    let received = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => (received += chunk))
    const answers = async (count: number): Promise<void> => {
      while ((received.match(/HTTP\/1\.1 \d{3}/g) ?? []).length < count) {
        if (socket.destroyed || socket.readableEnded) throw new Error(`the connection ended after: ${received.slice(0, 300)}`)
        await Promise.race([once(socket, 'data'), once(socket, 'close')])
      }
    }
    const body = Buffer.alloc(256 * 1024, 120)
    socket.write(`POST /v1/stream/keep HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`)
    socket.write(body)
    await answers(1)
    expect(received).toMatch(/^HTTP\/1\.1 413/)
    expect(received.toLowerCase()).not.toContain('connection: close')
    socket.write(`HEAD /v1/stream/keep HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`)
    await answers(2)
    expect(received).toMatch(/HTTP\/1\.1 200 OK[\s\S]*stream-next-offset: 0000000000000000/i)
    socket.destroy()
  })

  test('a chunked body (no Content-Length) that passes the limit gets its 413 too, and the connection serves on', async ({ serve }) => {
    const { url } = await serve({ bodyLimit: 64 * 1024 })
    await createPlainStream(url, 'chunked', 'text/plain')
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 40; i++) yield Buffer.alloc(8 * 1024, 120)
    }
    const response = await request(`${url}/v1/stream/chunked`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: Readable.from(chunks()) })
    expect(response.statusCode).toBe(413)
    await response.body.dump()
    expect(response.headers.connection).not.toBe('close')
    const ok = await request(`${url}/v1/stream/chunked`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'fits' })
    await ok.body.dump()
    expect(ok.statusCode).toBe(204)
  })
})
