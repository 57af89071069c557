/**
 * A process of live readers that never read: each opens a raw socket, sends its `GET` of an event
 * stream and then reads nothing at all (not even the status line), so everything the server
 * writes to it piles up in the kernel's buffers and then in the server's. What the server holds
 * for them, and what they cost its other readers, is the measurement.
 *
 * Commands: open { url, count } (all at once, as a burst), close.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { serve } from '../lib/proc.ts'

let sockets: Socket[] = []

/** Opens one stalled reader; resolves once its request is written. */
function open(url: string): Promise<Socket> {
  const { hostname, port, pathname, search } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) })
    // Paused from the start: no byte of the answer is ever taken from the kernel.
    socket.pause()
    socket.on('error', () => {})
    socket.once('connect', () => {
      socket.write(`GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`, () => resolve(socket))
    })
    socket.once('error', reject)
  })
}

serve({
  ready: () => ({ pid: process.pid }),
  open: async (args) => {
    const url = args.url as string
    const count = args.count as number
    const opened = await Promise.all(Array.from({ length: count }, () => open(url)))
    sockets.push(...opened)
    return { open: sockets.length }
  },
  close: () => {
    for (const socket of sockets) socket.destroy()
    sockets = []
    return true
  },
})
