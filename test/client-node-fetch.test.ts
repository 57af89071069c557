/**
 * The Node client's requests go through undici's `request`, read as the part of a fetch
 * `Response` the transport uses (`io/node-fetch.ts`). What fetch would do that a caller sees is
 * kept: redirects followed, headers read as `Headers` reads them, an abort rejecting with its
 * reason, a cancelled body ending the read waiting on it.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { Agent } from 'undici'
import { afterEach, describe, expect, test } from 'vitest'
import { requestFetch } from '../packages/client/src/io/node-fetch.ts'

let server: Server | undefined
const agent = new Agent()

afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  server = undefined
})

/** A server answering with `handle`; resolves with its base URL. */
async function serve(handle: (request: IncomingMessage, body: string, response: ServerResponse) => void): Promise<string> {
  server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => (body += chunk))
    request.on('end', () => handle(request, body, response))
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
}

const fetchLike = requestFetch(agent)

describe('requests through undici request', () => {
  test('an answer: status, ok, headers (several values joined, names in lower case) and text', async () => {
    const url = await serve((request, body, response) => {
      response.setHeader('X-Many', ['a', 'b'])
      response.writeHead(201, { 'Content-Type': 'application/json' })
      response.end(JSON.stringify({ method: request.method, body, header: request.headers['x-sent'] }))
    })
    const answer = await fetchLike(`${url}/thing?x=1`, { method: 'PUT', headers: { 'x-sent': 'yes' }, body: 'hello' })
    expect(answer.status).toBe(201)
    expect(answer.ok).toBe(true)
    expect(answer.headers.get('x-many')).toBe('a, b')
    expect(answer.headers.get('Content-Type')).toBe('application/json')
    const seen: Record<string, string> = {}
    answer.headers.forEach((value, key) => (seen[key] = value))
    expect(seen['x-many']).toBe('a, b')
    expect(JSON.parse(await answer.text())).toEqual({ method: 'PUT', body: 'hello', header: 'yes' })
    const bytes = await (await fetchLike(`${url}/thing`, { method: 'POST', body: new TextEncoder().encode('é') })).arrayBuffer()
    expect(JSON.parse(Buffer.from(bytes).toString('utf8'))).toEqual({ method: 'POST', body: 'é' })
  })

  test('redirects are followed: 302 as a GET without the body, 307 with the same method and body', async () => {
    const url = await serve((request, body, response) => {
      if (request.url === '/see-other') return response.writeHead(302, { location: '/landed' }).end('moved')
      if (request.url === '/same') return response.writeHead(307, { location: `/landed?again` }).end()
      response.writeHead(200).end(`${request.method} ${request.url} ${body}`)
    })
    expect(await (await fetchLike(`${url}/see-other`, { method: 'POST', body: 'data' })).text()).toBe('GET /landed ')
    expect(await (await fetchLike(`${url}/same`, { method: 'POST', body: 'data' })).text()).toBe('POST /landed?again data')
  })

  test('a body read chunk by chunk; cancel ends a read waiting for more', async () => {
    const url = await serve((_request, _body, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write('first')
      // Nothing more: the stream stays open until the reader lets go.
    })
    const answer = await fetchLike(`${url}/sse`, { method: 'GET' })
    const reader = answer.body?.getReader()
    if (reader === undefined) throw new Error('no body')
    const first = await reader.read()
    expect(first.done).toBe(false)
    expect(Buffer.from(first.value ?? new Uint8Array()).toString()).toBe('first')
    const waiting = reader.read().then(
      (result) => ({ ended: result.done }),
      () => ({ ended: true }),
    )
    await reader.cancel()
    expect(await waiting).toEqual({ ended: true })
    reader.releaseLock()
  })

  test('an aborted request rejects, and a failure to connect is an error', async () => {
    const url = await serve(() => {
      // Never answers.
    })
    const controller = new AbortController()
    const pending = fetchLike(`${url}/slow`, { method: 'GET', signal: controller.signal })
    controller.abort(new Error('stop'))
    await expect(pending).rejects.toThrow()
    await expect(fetchLike('http://127.0.0.1:1/', { method: 'GET' })).rejects.toThrow()
  })
})
