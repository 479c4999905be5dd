import dgram from 'node:dgram'
import net from 'node:net'
import type { FlushWriter } from '../../aggregate/flush-data'
import type { RepeaterBackendConfig } from '../../config/schema'
import type { Logger } from '../../log'
import type { Backend, BackendStats } from '../backend'
import { lineRuns } from '../encode'
import { Outbox, outboxOptions, type Payload, Undeliverable } from '../outbox'

/** Stream reads can hold many lines; over UDP they go in datagrams of at most this, split at line ends. */
const MAX_DATAGRAM = 8 * 1024
const MAX_UDP_PAYLOAD = 65_507
/** Packets gathered before they go to the outboxes as one batch (also flushed every event-loop turn). */
const BATCH_BYTES = 64 * 1024
/** A target's default bound: it holds raw traffic, not one compact flush. */
const DEFAULT_MAX_QUEUE_BYTES = 8 * 1024 * 1024

type Target = { host: string; port: number }

/**
 * Etsy's repeater: every packet the listeners receive, raw (bad lines
 * included), is forwarded to each target over UDP or TCP. Packets are tapped
 * as they enter the ingest queue and batched per event-loop turn; each target
 * has its own outbox, so a slow or dead target costs only its own (bounded,
 * counted) queue.
 */
export class RepeaterBackend implements Backend {
  readonly name: string
  private readonly targets: { outbox: Outbox; close: () => void }[]
  private pending: Buffer[] = []
  private pendingBytes = 0
  private scheduled = false
  private readonly closeSocket: () => void

  constructor(cfg: RepeaterBackendConfig, log: Logger) {
    this.name = `repeater ${cfg.protocol}`
    const udp = cfg.protocol === 'tcp' ? null : dgram.createSocket(cfg.protocol)
    udp?.on('error', (err) => log.warn({ err: err.message }, 'repeater socket error'))
    udp?.unref()
    const options = outboxOptions(cfg, { maxBytes: DEFAULT_MAX_QUEUE_BYTES })
    this.targets = cfg.targets.map((target) => {
      const targetLog = log.child({ target: `${target.host}:${target.port}` })
      if (udp !== null) {
        return { outbox: new Outbox((p) => sendDatagrams(udp, target, p), options, targetLog), close: () => {} }
      }
      const stream = new StreamTarget(target)
      return { outbox: new Outbox((p, signal) => stream.send(p, signal), options, targetLog), close: () => stream.close() }
    })
    this.closeSocket = () => udp?.close()
  }

  /** The ingest tap: runs inside a listener's read handler, so it only keeps a reference. */
  readonly tap = (packet: Buffer): void => {
    this.pending.push(packet)
    this.pendingBytes += packet.length
    if (this.pendingBytes >= BATCH_BYTES) this.forward()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.forward())
    }
  }

  /** Repeats packets as they arrive; flushes are not its business. */
  beginFlush(): FlushWriter {
    return { write: () => {}, end: async () => {} }
  }

  async flush(): Promise<void> {}

  stats(): BackendStats {
    const total: BackendStats = {
      delivered: 0,
      failedAttempts: 0,
      retries: 0,
      bytesQueued: 0,
      flushesDropped: 0,
      flushesQueued: 0,
      lastSuccess: 0,
      lastFailure: 0,
    }
    for (const { outbox } of this.targets) {
      const s = outbox.stats()
      for (const key of ['delivered', 'failedAttempts', 'retries', 'bytesQueued', 'flushesDropped', 'flushesQueued'] as const) {
        total[key] += s[key]
      }
      total.lastSuccess = Math.max(total.lastSuccess, s.lastSuccess)
      total.lastFailure = Math.max(total.lastFailure, s.lastFailure)
    }
    return total
  }

  async close(): Promise<void> {
    this.forward()
    await Promise.all(this.targets.map((t) => t.outbox.close()))
    for (const t of this.targets) t.close()
    this.closeSocket()
  }

  private forward(): void {
    this.scheduled = false
    if (this.pending.length === 0) return
    const payload = { chunks: this.pending, bytes: this.pendingBytes }
    this.pending = []
    this.pendingBytes = 0
    for (const { outbox } of this.targets) outbox.push(payload)
  }
}

async function sendDatagrams(socket: dgram.Socket, target: Target, payloads: readonly Payload[]): Promise<void> {
  for (const payload of payloads) {
    for (const packet of payload.chunks) {
      // Whole as Etsy sends it when small enough; a run of stream lines is cut at line ends.
      for (const datagram of lineRuns(packet, MAX_DATAGRAM)) {
        if (datagram.length > MAX_UDP_PAYLOAD) continue // one line longer than any datagram: it cannot be sent
        await new Promise<void>((resolve, reject) =>
          socket.send(datagram, target.port, target.host, (err) => (err ? reject(err) : resolve())),
        )
      }
    }
  }
}

const NEWLINE = Buffer.from('\n')

/**
 * One long-lived connection to a TCP target. A batch counts as delivered when
 * the kernel took all of it. If the connection breaks once part of a batch
 * may have gone out, re-sending could count those metrics twice, so the batch
 * is dropped (and counted) instead; if nothing went out it is retried.
 */
class StreamTarget {
  private socket: net.Socket | null = null
  private connected: Promise<net.Socket> | null = null

  constructor(private readonly target: Target) {}

  async send(payloads: readonly Payload[], signal: AbortSignal): Promise<void> {
    const socket = await this.connect(signal)
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => fail(signal.reason as Error)
        const onClose = (): void => fail(new Error('connection closed'))
        const cleanup = (): void => {
          signal.removeEventListener('abort', onAbort)
          socket.off('close', onClose)
        }
        const fail = (err: Error): void => {
          cleanup()
          reject(err)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        socket.once('close', onClose)
        socket.cork()
        const last = payloads.at(-1)!.chunks.at(-1)!
        for (const payload of payloads) {
          for (const packet of payload.chunks) {
            // Etsy writes each packet plus "\n"; a run of stream lines already ends with one.
            const done = packet === last ? (err?: Error | null) => (err ? fail(err) : (cleanup(), resolve())) : undefined
            if (packet[packet.length - 1] === 0x0a) socket.write(packet, done)
            else {
              socket.write(packet)
              socket.write(NEWLINE, done)
            }
          }
        }
        socket.uncork()
      })
    } catch (err) {
      this.reset()
      throw new Undeliverable(`connection failed with part of a batch possibly sent: ${(err as Error).message}`)
    }
  }

  close(): void {
    this.socket?.end()
    this.reset()
  }

  private connect(signal: AbortSignal): Promise<net.Socket> {
    if (this.socket !== null && !this.socket.destroyed) return Promise.resolve(this.socket)
    this.connected ??= new Promise<net.Socket>((resolve, reject) => {
      const socket = net.createConnection({ host: this.target.host, port: this.target.port })
      socket.setNoDelay(true)
      const onAbort = (): void => {
        socket.destroy()
        reject(signal.reason as Error)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      socket.once('error', (err) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      })
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort)
        socket.on('error', () => this.reset())
        this.socket = socket
        resolve(socket)
      })
    }).finally(() => (this.connected = null))
    return this.connected
  }

  private reset(): void {
    this.socket?.destroy()
    this.socket = null
  }
}
