import { once } from 'node:events'
import net from 'node:net'
import { udpSockets } from '../../src/listeners/proc-net'

/* Bulk senders for the no-loss tests: whole buffers of lines, written as fast as the socket takes them. */

/** `count` copies of `line` (newline included) in one buffer. */
export function lines(line: string, count: number): Buffer {
  return Buffer.from(line.repeat(count))
}

/**
 * Connects, writes `block` `times` times as fast as the kernel takes it,
 * ends, and resolves once everything is handed to the kernel (not once the
 * server has read it).
 */
export async function blast(target: { host: string; port: number } | string, block: Buffer, times: number): Promise<void> {
  const socket = typeof target === 'string' ? net.createConnection(target) : net.createConnection(target.port, target.host)
  await once(socket, 'connect')
  for (let i = 0; i < times; i++) {
    if (!socket.write(block)) await once(socket, 'drain')
  }
  socket.end()
  // Read the server's end of stream, so the socket closes once the server is done.
  socket.resume()
  await once(socket, 'finish')
}

/** The kernel's view of the UDP socket bound to this address and port (Linux), seen from outside the server. */
export function udpSocketOn(target: { host: string; port: number }): { rxQueue: number; drops: number } {
  const row = udpSockets(target.host).find((r) => r.port === target.port && r.address === target.host)
  if (row === undefined) throw new Error(`no UDP socket on ${target.host}:${target.port} in /proc/net`)
  return row
}
