/**
 * The kernel's share of a socket's backlog: for a peer that does not read, the kernel holds far
 * more than Node's own buffer, and `KernelQueues` sees it (on Linux, where the kernel reports it),
 * reading the kernel's tables off the event loop, and no more often than they cost.
 */
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { connect } from 'node:net'
import { afterEach, expect, test } from 'vitest'
import { IN_FLIGHT_MS, inKernelOfWrite, KernelQueues, sendQueueOfPort } from '../src/live/kernel-queue.ts'

const servers: Server[] = []
const sockets: Socket[] = []
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy()
  for (const server of servers.splice(0)) server.close()
})

/** A server-side socket whose peer (on `host`) never reads, after `bytes` were written to it. */
async function stalled(host: string, bytes: number, chunkBytes = 64 * 1024): Promise<Socket> {
  const server = createServer()
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const peer = connect((server.address() as { port: number }).port, host)
  peer.pause()
  sockets.push(peer)
  const socket = await accepted
  sockets.push(socket)
  const chunk = Buffer.alloc(chunkBytes, 120)
  for (let written = 0; written < bytes; written += chunk.length) socket.write(chunk)
  // Let the kernel take what it will.
  await new Promise((resolve) => setTimeout(resolve, 300))
  return socket
}

const queues = new KernelQueues(0)

test.skipIf(!queues.available)('a stalled socket holds megabytes in the kernel beyond Node’s own buffer, and they are counted', async () => {
  const socket = await stalled('127.0.0.1', 8 * 1024 * 1024)
  const watchedAt = performance.now()
  const unwatch = queues.watch(socket)
  // Before any read of the tables the bound is everything handed to the kernel since watching: 0.
  expect(queues.queued(socket)).toBe(0)
  const readStarted = performance.now()
  await queues.refresh()
  const kernel = queues.queued(socket)
  // Node's buffer holds the rest of the 8 MiB; the kernel holds well over a MiB of it.
  expect(kernel).toBeGreaterThan(1024 * 1024)
  expect(kernel + socket.writableLength).toBeLessThanOrEqual(8 * 1024 * 1024)
  // In flight while it is younger than IN_FLIGHT_MS at the read (a busy machine may already be
  // past that); held once it has stayed unacknowledged longer.
  expect(queues.held(socket).fresh).toBe(true)
  if (readStarted - watchedAt < IN_FLIGHT_MS) expect(queues.held(socket).bytes).toBe(0)
  await new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_MS + 50))
  await queues.refresh()
  expect(queues.held(socket).bytes).toBeGreaterThan(1024 * 1024)
  unwatch()
  expect(queues.queued(socket)).toBe(0)
})

test.skipIf(!queues.available)('one large write is counted once: the part in the kernel is not also in Node’s buffer', async () => {
  // One 12 MiB write: libuv hands the kernel what it takes and keeps the rest, and Node counts
  // all of it in writableLength until the whole write is out.
  const total = 12 * 1024 * 1024
  const socket = await stalled('127.0.0.1', total, total)
  const unwatch = queues.watch(socket)
  await queues.refresh()
  const kernel = queues.queued(socket)
  const passedOn = inKernelOfWrite(socket)
  expect(kernel).toBeGreaterThan(1024 * 1024)
  expect(passedOn).toBeGreaterThan(1024 * 1024)
  expect(socket.writableLength).toBe(total)
  // What is still in this process plus what the kernel holds is at most what was written.
  expect(kernel + socket.writableLength - passedOn).toBeLessThanOrEqual(total)
  unwatch()
})

test.skipIf(!queues.available)('the send queues of a port are those of its sockets, and of no other port', async () => {
  const socket = await stalled('127.0.0.1', 8 * 1024 * 1024)
  const unwatch = queues.watch(socket)
  // Read by port, then by socket, then by port again, until the two by port agree (the queue no
  // longer moves while the peer does not read): the read by socket between them saw the same.
  let port: number | undefined
  let bySocket = Number.NaN
  for (let attempt = 0; attempt < 50; attempt++) {
    const before = await sendQueueOfPort(socket.localPort as number)
    await queues.refresh()
    bySocket = queues.queued(socket)
    port = await sendQueueOfPort(socket.localPort as number)
    if (port === before) break
  }
  expect(port).toBeGreaterThan(1024 * 1024)
  expect(bySocket).toBe(port)
  // The client's end (another local port) has nothing to send.
  const idle = sockets.find((candidate) => candidate.localPort === socket.remotePort) as Socket
  expect(await sendQueueOfPort(idle.localPort as number)).toBe(0)
  unwatch()
})

test.skipIf(!queues.available)('IPv6 sockets are found too', async () => {
  let socket: Socket
  try {
    socket = await stalled('::1', 4 * 1024 * 1024)
  } catch {
    return // no IPv6 loopback here
  }
  const unwatch = queues.watch(socket)
  await queues.refresh()
  expect(queues.queued(socket)).toBeGreaterThan(256 * 1024)
  await new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_MS + 50))
  await queues.refresh()
  expect(queues.held(socket).bytes).toBeGreaterThan(256 * 1024)
  unwatch()
})

/** A server-side socket whose peer (on 127.0.0.1) reads everything; `receivedAll(n)` resolves once it has read `n` bytes. */
async function reading(): Promise<{ socket: Socket; peer: Socket; receivedAll: (bytes: number) => Promise<void> }> {
  const server = createServer()
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const peer = connect((server.address() as { port: number }).port, '127.0.0.1')
  sockets.push(peer)
  let received = 0
  const waiters: Array<{ bytes: number; resolve: () => void }> = []
  peer.on('data', (chunk: Buffer) => {
    received += chunk.length
    for (const waiter of waiters.filter((w) => received >= w.bytes)) waiter.resolve()
  })
  const receivedAll = (bytes: number) => new Promise<void>((resolve) => (received >= bytes ? resolve() : waiters.push({ bytes, resolve })))
  const socket = await accepted
  sockets.push(socket)
  return { socket, peer, receivedAll }
}

test.skipIf(!queues.available)('a socket whose peer reads has nothing left in the kernel once read', async () => {
  const { socket, receivedAll } = await reading()
  const unwatch = queues.watch(socket)
  socket.write(Buffer.alloc(1024 * 1024, 1))
  await receivedAll(1024 * 1024)
  // Handed to the kernel since watching began: the bound counts it until the tables say otherwise.
  expect(queues.queued(socket)).toBe(1024 * 1024)
  await queues.refresh()
  expect(queues.held(socket)).toEqual({ bytes: 0, fresh: true })
  expect(queues.queued(socket)).toBe(0)
  unwatch()
})

test.skipIf(!queues.available)('reads come on request, call every watcher back, and are spaced by the interval', async () => {
  const spaced = new KernelQueues(300)
  const socket = await stalled('127.0.0.1', 2 * 1024 * 1024)
  const reads: number[] = []
  let notify: () => void = () => {}
  const unwatch = spaced.watch(socket, () => {
    reads.push(performance.now())
    notify()
  })
  const nextRead = () => new Promise<void>((resolve) => (notify = resolve))
  // Nothing is read until asked for.
  expect(spaced.held(socket).fresh).toBe(false)
  let read = nextRead()
  spaced.request()
  await read
  expect(spaced.queued(socket)).toBeGreaterThan(256 * 1024)
  // Asked again at once: the read waits for the interval (at least 300 ms after the last).
  read = nextRead()
  spaced.request()
  spaced.request()
  await read
  expect(reads).toHaveLength(2)
  expect((reads[1] as number) - (reads[0] as number)).toBeGreaterThanOrEqual(spaced.intervalMs - 5)
  expect(spaced.intervalMs).toBeGreaterThanOrEqual(300)
  unwatch()
})

test.skipIf(!queues.available)('a peer that kept up is credited with its pace, but with no more than a receive buffer, however late the next read', async () => {
  const cap = 64 * 1024
  const capped = new KernelQueues(0, cap)
  const { socket, peer, receivedAll } = await reading()
  const unwatch = capped.watch(socket)
  const chunk = Buffer.alloc(64 * 1024, 120)
  // The peer keeps up while two reads of the tables see it: it has a pace.
  for (let round = 1; round <= 2; round++) {
    for (let i = 0; i < 16; i++) socket.write(chunk)
    await receivedAll(round * 16 * chunk.length)
    await capped.refresh()
  }
  // It stops reading, and the kernel takes megabytes more; no read of the tables follows.
  peer.pause()
  const handed = (): number => socket.bytesWritten - socket.writableLength + inKernelOfWrite(socket)
  const before = handed()
  for (let i = 0; i < 128; i++) socket.write(chunk)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const since = handed() - before
  expect(since).toBeGreaterThan(1024 * 1024)
  // Credited at its pace for 300 ms it would count as holding nothing; it is credited a receive buffer at most.
  expect(capped.queued(socket)).toBeGreaterThanOrEqual(since - cap)
  unwatch()
})
