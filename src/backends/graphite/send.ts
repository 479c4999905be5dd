import net from 'node:net'
import tls from 'node:tls'
import { type TcpAcks, tcpAcks } from './tcp-acks'

/** How often an attempt whose bytes are all written asks the kernel whether the receiver acknowledged them. */
export const ACK_POLL_MS = 5

/**
 * An attempt still unacknowledged at its deadline, reset (RST) so that the
 * receiver's kernel discards what it holds of it. `bytesAcked` of it had
 * reached the receiver's kernel: a receiver that had read them gets them
 * again with the next attempt.
 */
export class ResetAtDeadline extends Error {
  constructor(
    message: string,
    readonly bytesAcked: number,
  ) {
    super(message)
  }
}

/**
 * One flush over one new TCP connection, as Etsy sends it. Once connected,
 * `payload` gives the Buffers to send, in runs as they become available
 * (a flush still being formatted is sent as it goes); it is asked for the
 * next run only once our kernel has taken the previous one.
 *
 * Resolves once the flush is delivered: every byte and our FIN are
 * acknowledged by the receiver's TCP stack (TCP_INFO, polled every
 * ACK_POLL_MS), or the receiver closed cleanly after taking it, whichever
 * comes first; our socket is closed then, without waiting for the receiver.
 * Without the addon nothing tells when bytes were acknowledged, and a flush
 * counts as delivered once every byte and our FIN are handed to our kernel,
 * as Etsy counts it.
 *
 * Rejects on any error, and when `signal` aborts (the attempt's deadline):
 * then, if every byte written was acknowledged (only our FIN was not yet),
 * it resolves instead, synchronously in the abort listener, so that the
 * flush is never sent again; otherwise the connection is reset and it
 * rejects with ResetAtDeadline. Over TLS (`target.tls`) bytes on the wire
 * are not the bytes written, so only the ACK of our FIN tells, and a stuck
 * attempt is closed rather than reset (Node resets only plain TCP sockets).
 */
export function sendAndClose(
  target: { host: string; port: number; tls?: tls.ConnectionOptions | undefined },
  payload: (stop: () => boolean) => AsyncIterable<readonly Buffer[]>,
  signal: AbortSignal,
  acks: TcpAcks | null = tcpAcks,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let written = false
    let poll: NodeJS.Timeout | undefined
    const socket =
      target.tls === undefined ? net.createConnection({ host: target.host, port: target.port }) : tls.connect({ host: target.host, port: target.port, ...target.tls })
    const settle = (err?: Error): void => {
      clearInterval(poll)
      signal.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const delivered = (): void => {
      settle()
      socket.destroy()
    }
    const onAbort = (): void => {
      const reason = signal.reason instanceof Error ? signal.reason : new Error('aborted')
      const acked = acks?.bytesAcked(socket) ?? 0
      if (written && acks !== null && target.tls === undefined && acked >= socket.bytesWritten) return delivered()
      if (socket.destroyed) return settle(reason)
      if (target.tls === undefined) socket.resetAndDestroy()
      else socket.destroy()
      settle(new ResetAtDeadline(`${reason.message}; reset with ${socket.bytesWritten - acked} of ${socket.bytesWritten} bytes unacknowledged`, acked))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.on('error', (err) => settle(err))
    const stop = (): boolean => signal.aborted || socket.destroyed
    const allWritten = (): void => {
      written = true
      if (acks === null) return delivered()
      const check = (): void => {
        if (acks.finAcked(socket)) delivered()
      }
      poll = setInterval(check, ACK_POLL_MS)
      poll.unref()
      check()
    }
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    const send = async (): Promise<void> => {
      for await (const run of payload(stop)) {
        if (stop()) return
        if (run.length === 0) continue
        // The Buffers are queued as they are (no copy) and written with one writev. The next run is
        // asked for once our kernel has taken this one: the payload makes its Buffers as the socket
        // drains, and may reuse these.
        await Promise.race([
          new Promise<void>((resolve) => {
            socket.cork()
            for (let i = 0; i < run.length - 1; i++) socket.write(run[i]!)
            socket.write(run.at(-1)!, () => resolve())
            socket.uncork()
          }),
          closed,
        ])
      }
      if (!stop()) socket.end(allWritten)
    }
    socket.on(target.tls === undefined ? 'connect' : 'secureConnect', () => {
      send().catch((err: unknown) => {
        socket.destroy()
        settle(err instanceof Error ? err : new Error(String(err)))
      })
    })
    socket.on('close', (hadError) => {
      if (written && !hadError) settle()
      else settle(new Error(written ? 'connection failed after the flush was written' : 'connection closed before the flush was written'))
    })
  })
}
