import net from 'node:net'
import tls from 'node:tls'

/**
 * One flush over one new TCP connection, as Etsy sends it. Once connected,
 * `payload` gives the Buffers to send, in runs as they become available
 * (a flush still being formatted is sent as it goes). Resolves only when
 * every byte was written, our end was closed, and the server closed its end
 * without an error: a server that accepts but never reads (or never closes)
 * does not count as having received anything. Rejects on any error or when
 * `signal` aborts; the socket is destroyed then.
 */
export function sendAndClose(
  target: { host: string; port: number; tls?: tls.ConnectionOptions | undefined },
  payload: (stop: () => boolean) => AsyncIterable<readonly Buffer[]>,
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let finished = false
    const socket =
      target.tls === undefined ? net.createConnection({ host: target.host, port: target.port }) : tls.connect({ host: target.host, port: target.port, ...target.tls })
    const onAbort = (): void => {
      socket.destroy()
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.on('error', (err) => reject(err))
    const stop = (): boolean => signal.aborted || socket.destroyed
    const send = async (): Promise<void> => {
      for await (const run of payload(stop)) {
        if (stop()) return
        // The Buffers are queued as they are (no copy) and written with one writev.
        socket.cork()
        for (const chunk of run) socket.write(chunk)
        socket.uncork()
      }
      if (!stop()) socket.end(() => (finished = true))
    }
    socket.on(target.tls === undefined ? 'connect' : 'secureConnect', () => {
      send().catch((err: unknown) => {
        socket.destroy()
        reject(err instanceof Error ? err : new Error(String(err)))
      })
    })
    socket.on('close', (hadError) => {
      signal.removeEventListener('abort', onAbort)
      if (finished && !hadError) resolve()
      else reject(new Error(finished ? 'connection failed after the flush was written' : 'connection closed before the flush was written'))
    })
  })
}
