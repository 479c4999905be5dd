import { EventEmitter, once } from 'node:events'
import net from 'node:net'
import type { Test } from 'tap'
import { graphiteValues } from './graphite-lines'

/**
 * A local TCP listener standing in for Graphite: every connection is one
 * flush (as the backend connects once per flush), kept in arrival order.
 */
export class FakeGraphite extends EventEmitter {
  readonly flushes: string[] = []
  private readonly sockets = new Set<net.Socket>()
  private readonly server = net.createServer((socket) => {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    const chunks: Buffer[] = []
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', () => {})
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      this.flushes.push(text)
      this.emit('flush', text)
    })
  })

  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1')
    await once(this.server, 'listening')
    return (this.server.address() as net.AddressInfo).port
  }

  /** Resolves with the first flush (already received or coming) that satisfies `test`. */
  async waitForFlush(test: (values: Map<string, string>) => boolean, timeoutMs = 10_000): Promise<Map<string, string>> {
    for (const text of this.flushes) {
      const values = graphiteValues(text)
      if (test(values)) return values
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('flush', onFlush)
        reject(new Error(`no matching flush within ${timeoutMs} ms (${this.flushes.length} flushes seen)`))
      }, timeoutMs)
      const onFlush = (text: string): void => {
        const values = graphiteValues(text)
        if (test(values)) {
          clearTimeout(timer)
          this.off('flush', onFlush)
          resolve(values)
        }
      }
      this.on('flush', onFlush)
    })
  }

  /** Resolves with the next flush to arrive. */
  async nextFlush(timeoutMs = 10_000): Promise<Map<string, string>> {
    const seen = this.flushes.length
    return this.waitForFlush(() => this.flushes.length > seen, timeoutMs)
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      for (const socket of this.sockets) socket.destroy()
    })
  }
}

/** A listening FakeGraphite, closed at the end of the test. */
export async function startFakeGraphite(t: Test): Promise<{ graphite: FakeGraphite; port: number }> {
  const graphite = new FakeGraphite()
  const port = await graphite.listen()
  t.teardown(() => graphite.close())
  return { graphite, port }
}
