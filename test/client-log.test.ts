/**
 * `client.log(name)`: any stream as a Durable Streams log — created with its content type and
 * expiry, read after any seq as the server sends it, appended to with bytes or JSON (a retry under
 * `Stream-Seq` never stores twice), closed — and `create()` of a state stream with an expiry.
 */
import { StateStreamClient } from '@statestream/client'
import { request } from 'undici'
import { describe, expect } from 'vitest'
import { liveTest } from './support/live-server.ts'

describe('client.log', () => {
  liveTest('creates, appends bytes, reads them back after any seq, and closes', async ({ serve }) => {
    const { url } = await serve()
    const client = new StateStreamClient({ baseUrl: url })
    try {
      const log = client.log('raw/a')
      expect(await log.create({ contentType: 'application/octet-stream', ttlSeconds: 3600 })).toEqual({ created: true })
      expect(await log.create({ contentType: 'application/octet-stream', ttlSeconds: 3600 })).toEqual({ created: false })
      expect(await log.append(new Uint8Array([0, 255, 1]), { streamSeq: '1' })).toEqual({ seq: 1 })
      await expect(log.append(new Uint8Array([7]), { streamSeq: '1' })).rejects.toMatchObject({ code: 'STREAM_SEQ_REGRESSION' })
      expect(await log.append(new Uint8Array([2, 3]), { streamSeq: '2' })).toEqual({ seq: 2 })

      const all = await log.read(0)
      expect(all).toEqual({ body: new Uint8Array([0, 255, 1, 2, 3]), next: 2, upToDate: true, closed: false })
      expect((await log.read(1)).body).toEqual(new Uint8Array([2, 3]))
      expect(await log.info()).toMatchObject({ kind: 'plain', contentType: 'application/octet-stream', seq: 2, closed: false, ttlSeconds: 3600 })

      await log.close()
      await log.close()
      expect(await log.read(2)).toMatchObject({ next: 2, upToDate: true, closed: true })
      expect((await log.info()).closed).toBe(true)
      await expect(log.append(new Uint8Array([9]))).rejects.toMatchObject({ code: 'STREAM_CLOSED' })
    } finally {
      await client.close()
    }
  })

  liveTest('a JSON log takes an array of messages in one append and reads as one array', async ({ serve }) => {
    const { url } = await serve()
    const client = new StateStreamClient({ baseUrl: url })
    try {
      const expiresAt = Date.parse('2099-01-01T00:00:00Z')
      const log = client.log('json/a')
      await log.create({ contentType: 'application/json', expiresAt })
      expect(await log.append('[{"a":1},[2],"three"]', { streamSeq: '3' })).toEqual({ seq: 3 })
      const chunk = await log.read(1)
      expect(JSON.parse(new TextDecoder().decode(chunk.body))).toEqual([[2], 'three'])
      expect(chunk.next).toBe(3)
      expect(await log.info()).toMatchObject({ kind: 'plain', contentType: 'application/json', seq: 3, expiresAt })
    } finally {
      await client.close()
    }
  })

  liveTest('create() takes an AbortSignal: already aborted, nothing is sent', async ({ serve }) => {
    const { url } = await serve()
    const client = new StateStreamClient({ baseUrl: url })
    try {
      const log = client.log('raw/aborted')
      await expect(log.create({ contentType: 'application/octet-stream', signal: AbortSignal.abort(new Error('not now')) })).rejects.toThrow('not now')
      await expect(log.info()).rejects.toMatchObject({ code: 'STREAM_NOT_FOUND', status: 404 })
    } finally {
      await client.close()
    }
  })

  liveTest('a state stream is created with a TTL or an expiry time', async ({ serve }) => {
    const { url } = await serve()
    const client = new StateStreamClient({ baseUrl: url })
    try {
      await client.stream('s/ttl').create({ ttlSeconds: 90 })
      await client.stream('s/exp').create({ expiresAt: Date.parse('2099-06-01T12:00:00Z') })
      const head = await request(`${url}/v1/stream/s/exp`, { method: 'HEAD' })
      await head.body.dump()
      expect(head.headers['stream-expires-at']).toBe('2099-06-01T12:00:00.000Z')
      expect(await client.stream('s/ttl').info()).toMatchObject({ kind: 'state', ttlSeconds: 90 })
      expect((await client.stream('s/ttl').info()).expiresAt).toBeUndefined()
    } finally {
      await client.close()
    }
  })
  liveTest('a state handle\'s append to a plain JSON stream is refused, and the log handle\'s is stored', async ({ serve }) => {
    const { url } = await serve()
    const client = new StateStreamClient({ baseUrl: url })
    try {
      const log = client.log('raw/json')
      await log.create({ contentType: 'application/json' })
      await expect(client.stream('raw/json').append({ merge: { a: 1 } })).rejects.toMatchObject({ code: 'NOT_A_STATE_STREAM', status: 409 })
      const messages = async () => JSON.parse(new TextDecoder().decode((await log.read(0)).body))
      expect(await messages()).toEqual([])
      expect(await log.append(JSON.stringify({ merge: { a: 1 } }))).toEqual({ seq: 1 })
      expect(await messages()).toEqual([{ merge: { a: 1 } }])
    } finally {
      await client.close()
    }
  })
  liveTest('read() with a limit takes a bytes stream message by message, and refuses a limit below 1', async ({ serve }) => {
    const { url } = await serve()
    const client = new StateStreamClient({ baseUrl: url })
    try {
      const log = client.log('raw/small')
      await log.create({ contentType: 'application/octet-stream' })
      for (const bytes of [[1], [2, 2], [3, 3, 3]]) await log.append(new Uint8Array(bytes))
      expect((await log.read(0)).body).toEqual(new Uint8Array([1, 2, 2, 3, 3, 3]))
      expect(await log.read(0, { limit: 1 })).toEqual({ body: new Uint8Array([1]), next: 1, upToDate: false, closed: false })
      expect(await log.read(1, { limit: 2 })).toEqual({ body: new Uint8Array([2, 2, 3, 3, 3]), next: 3, upToDate: true, closed: false })
      for (const limit of [0, 1.5, Number.NaN]) await expect(log.read(0, { limit })).rejects.toMatchObject({ code: 'INVALID_PARAMETER' })
    } finally {
      await client.close()
    }
  })

})
