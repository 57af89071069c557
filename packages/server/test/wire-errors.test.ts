/**
 * Every answer the server sends is a success or the wire error body `{ error: { code, message } }`
 * with a documented code: also the refusals that come from Fastify (routing, URLs, content types)
 * and from Node's HTTP parser before any route runs (malformed requests, raw NULs, oversized
 * headers, timeouts), a request without Host, and requests that arrive while the server closes.
 * Sent as raw bytes over a real socket, since no HTTP client would send most of them.
 */
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { ERROR_STATUS, ErrorCode } from '@statestream/common'
import type { FastifyInstance } from 'fastify'
import { describe, expect } from 'vitest'
import { test } from './support.ts'

/** One parsed HTTP/1.1 answer. */
interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

function parse(raw: string): Answer {
  const split = raw.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = raw.slice(0, split).split('\r\n')
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(split + 4) }
}

/** Sends `bytes` on a new connection and reads until the server closes it. */
function exchange(port: number, bytes: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let raw = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => (raw += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(parse(raw)))
    socket.write(bytes)
  })
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

/** Asserts the answer is the wire error `code`: its status, JSON content type, and the body. */
function expectWireError(answer: Answer, code: ErrorCode): void {
  expect(answer.status, answer.body).toBe(ERROR_STATUS[code])
  expect(answer.headers['content-type']).toMatch(/^application\/json/)
  const body = JSON.parse(answer.body) as { error: { code: string; message: string } }
  expect(Object.keys(body)).toEqual(['error'])
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message'])
  expect(body.error.code).toBe(code)
  expect(Object.values(ErrorCode)).toContain(body.error.code)
  expect(body.error.message.length).toBeGreaterThan(0)
}

const HOST = 'Host: localhost\r\nConnection: close\r\n'

describe('refusals of the HTTP parser (before any route)', () => {
  test.for([
    ['an unknown method', `FOO /health HTTP/1.1\r\n${HOST}\r\n`, ErrorCode.BAD_REQUEST],
    ['a raw NUL in the path', `GET /hea\0lth HTTP/1.1\r\n${HOST}\r\n`, ErrorCode.BAD_REQUEST],
    ['a raw NUL in a header', `GET /health HTTP/1.1\r\n${HOST}X-Name: a\0b\r\n\r\n`, ErrorCode.BAD_REQUEST],
    ['a request line that is not HTTP', 'hello there\r\n\r\n', ErrorCode.BAD_REQUEST],
    ['an HTTP/2 preface on an HTTP/1 port', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', ErrorCode.BAD_REQUEST],
    ['a Content-Length that is not a number', `POST /v1/stream/a HTTP/1.1\r\n${HOST}Content-Length: ten\r\n\r\n`, ErrorCode.BAD_REQUEST],
    ['two different Content-Lengths', `POST /v1/stream/a HTTP/1.1\r\n${HOST}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`, ErrorCode.BAD_REQUEST],
    ['an unknown Transfer-Encoding', `POST /v1/stream/a HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip\r\n\r\n`, ErrorCode.BAD_REQUEST],
    ['headers larger than the server takes', `GET /health HTTP/1.1\r\n${HOST}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`, ErrorCode.HEADERS_TOO_LARGE],
  ] as const)('%s', async ([, bytes, code], { makeApp }) => {
    const port = await listen(await makeApp())
    const answer = await exchange(port, bytes)
    expectWireError(answer, code)
    // Nothing more can be read from a connection the parser gave up on.
    expect(answer.headers.connection).toBe('close')
  })

  test('a request whose head takes too long to arrive is a 408 REQUEST_TIMEOUT', async ({ makeApp }) => {
    const port = await listen(await makeApp({ headersTimeoutMs: 300, requestTimeoutMs: 600 }))
    // The request line and one header, then nothing: the head never ends.
    expectWireError(await exchange(port, 'GET /health HTTP/1.1\r\nHost: localhost\r\n'), ErrorCode.REQUEST_TIMEOUT)
  })
})

describe("Fastify's own refusals", () => {
  test.for([
    ['an unknown route', `GET /nowhere HTTP/1.1\r\n${HOST}\r\n`, ErrorCode.NOT_FOUND],
    ['a method no route has', `PROPFIND /v1/stream/a HTTP/1.1\r\n${HOST}\r\n`, ErrorCode.NOT_FOUND],
    ['a method of another route', `DELETE /health HTTP/1.1\r\n${HOST}\r\n`, ErrorCode.NOT_FOUND],
    ['a body sent to an unknown route', `POST /nowhere HTTP/1.1\r\n${HOST}Content-Type: text/xml\r\nContent-Length: 3\r\n\r\n<a>`, ErrorCode.NOT_FOUND],
    ['a bad percent-encoding', `GET /v1/state/%zz HTTP/1.1\r\n${HOST}\r\n`, ErrorCode.BAD_REQUEST],
    ['an HTTP/1.1 request without Host', 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n', ErrorCode.BAD_REQUEST],
  ] as const)('%s', async ([, bytes, code], { makeApp }) => {
    const port = await listen(await makeApp())
    expectWireError(await exchange(port, bytes), code)
  })

  test('an HTTP/1.0 request needs no Host', async ({ makeApp }) => {
    const port = await listen(await makeApp())
    const answer = await exchange(port, 'GET /health HTTP/1.0\r\n\r\n')
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toEqual({ status: 'ok' })
  })

  test('a body of a type a route does not parse is a 415 UNSUPPORTED_MEDIA_TYPE', async ({ makeApp }) => {
    // A host application's own route beside ours, with Fastify's default parsers.
    const app = await makeApp()
    app.post('/host/echo', async (request) => request.body)
    const port = await listen(app)
    expectWireError(await exchange(port, `POST /host/echo HTTP/1.1\r\n${HOST}Content-Type: text/xml\r\nContent-Length: 3\r\n\r\n<a>`), ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    expectWireError(await exchange(port, `POST /host/echo HTTP/1.1\r\n${HOST}Content-Type: application/json\r\nContent-Length: 3\r\n\r\n{x}`), ErrorCode.BAD_REQUEST)
  })
})

describe('while the server shuts down', () => {
  test('a request on an open connection gets 503 SHUTTING_DOWN, and /ready says so too', async ({ makeApp }) => {
    const app = await makeApp()
    // Runs once closing has begun and before connections are closed: the window in which a
    // request can still arrive on an open connection. Each such answer closes its connection.
    let during: Answer[] = []
    app.addHook('preClose', async () => {
      during = await Promise.all([first.ask('/v1/state/a'), second.ask('/ready')])
    })
    const port = await listen(app)
    // Keep-alive connections, opened (and used once) before the shutdown starts.
    const first = keepAlive(port)
    const second = keepAlive(port)
    expect((await first.ask('/health')).status).toBe(200)
    expect((await second.ask('/ready')).status).toBe(200)
    await app.close()
    expect(during).toHaveLength(2)
    for (const answer of during) {
      expectWireError(answer, ErrorCode.SHUTTING_DOWN)
      expect(answer.headers.connection).toBe('close')
    }
  })
})

/** A keep-alive connection that asks one GET at a time. */
function keepAlive(port: number): { ask: (path: string) => Promise<Answer> } {
  const socket = connect(port, '127.0.0.1')
  socket.setEncoding('latin1')
  let received = ''
  let pending: (() => void) | undefined
  socket.on('data', (chunk: string) => {
    received += chunk
    pending?.()
  })
  return {
    ask: (path) =>
      new Promise((resolve) => {
        received = ''
        pending = () => {
          const answer = parse(received)
          if (received.includes('\r\n\r\n') && answer.body.length >= Number(answer.headers['content-length'] ?? 0)) resolve(answer)
        }
        socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`)
      }),
  }
}
