import net from 'node:net'
import type { FlushData } from '../aggregate/flush-data'
import type { GraphiteBackendConfig } from '../config/schema'
import type { Logger } from '../log'
import type { BackendStatus } from '../core/server-control'
import type { Backend } from './backend'
import { GraphiteFormatter, type GraphiteHealth, type GraphiteNaming } from './graphite-format'

/** Undelivered flushes kept for the next attempt, so a Graphite restart loses nothing. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024

/**
 * Sends each flush over a new plaintext TCP connection, as Etsy does. A flush
 * that cannot be delivered (refused, reset, timed out) is kept, bounded, and
 * sent ahead of the next one; only what overflows that bound is dropped,
 * counted and logged.
 */
export class GraphiteBackend implements Backend {
  readonly name = 'graphite'
  private readonly formatter: GraphiteFormatter
  private readonly health: GraphiteHealth
  private pending: string[] = []
  private pendingBytes = 0
  private readonly sockets = new Set<net.Socket>()
  /** Flush payloads dropped because Graphite stayed unreachable too long. */
  droppedFlushes = 0
  failedAttempts = 0
  private delivered = { flushes: 0, lastAt: 0, lastFailureAt: 0 }

  constructor(
    private readonly cfg: GraphiteBackendConfig,
    naming: Omit<GraphiteNaming, keyof GraphiteBackendConfig>,
    startupTime: number,
    private readonly log: Logger,
  ) {
    this.formatter = new GraphiteFormatter({ ...cfg, ...naming })
    // As Etsy 0.9: last_exception stays 0 until a flush fails.
    this.health = { lastException: 0, lastFlush: startupTime, flushTime: 0, flushLength: 0 }
  }

  flush(data: FlushData): Promise<void> {
    this.queue(this.formatter.format(data, Date.now()))
    return this.send()
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    if (this.pending.length > 0) {
      this.log.error({ flushes: this.pending.length, bytes: this.pendingBytes }, 'graphite: undelivered flushes dropped at exit')
    }
  }

  status(): BackendStatus {
    const h = this.health
    return {
      name: this.name,
      target: `${this.cfg.host}:${this.cfg.port}`,
      lastSuccess: this.delivered.lastAt,
      lastFailure: this.delivered.lastFailureAt,
      flushesSent: this.delivered.flushes,
      flushesFailed: this.failedAttempts,
      flushesRetried: this.failedAttempts,
      flushesDropped: this.droppedFlushes,
      undeliveredFlushes: this.pending.length,
      undeliveredBytes: this.pendingBytes,
      etsyStatus: [
        ['last_flush', h.lastFlush],
        ['last_exception', h.lastException],
        ['flush_time', h.flushTime],
        ['flush_length', h.flushLength],
      ],
    }
  }

  private queue(payload: string): void {
    this.pending.push(payload)
    this.pendingBytes += payload.length
    while (this.pendingBytes > MAX_PENDING_BYTES && this.pending.length > 1) {
      this.pendingBytes -= this.pending.shift()!.length
      this.droppedFlushes++
      this.log.error({ dropped: this.droppedFlushes }, 'graphite: unreachable for too long, oldest undelivered flush dropped')
    }
  }

  private send(): Promise<void> {
    const batch = this.pending
    const batchBytes = this.pendingBytes
    this.pending = []
    this.pendingBytes = 0
    return new Promise((resolve) => {
      let delivered = false
      const socket = net.createConnection({ host: this.cfg.host, port: this.cfg.port })
      this.sockets.add(socket)
      socket.setTimeout(this.cfg.timeoutMs)
      socket.on('connect', () => {
        const now = Math.round(Date.now() / 1000)
        const payload = batch.join('') + this.formatter.formatHealth(this.health, now)
        const started = Date.now()
        socket.end(payload, () => {
          delivered = true
          this.delivered.flushes += batch.length
          this.delivered.lastAt = Date.now()
        })
        this.health.flushTime = Date.now() - started
        this.health.flushLength = payload.length
        this.health.lastFlush = now
      })
      socket.on('timeout', () => socket.destroy(new Error(`no progress for ${this.cfg.timeoutMs} ms`)))
      socket.on('error', (err) => {
        this.failedAttempts++
        this.delivered.lastFailureAt = Date.now()
        this.health.lastException = Math.round(Date.now() / 1000)
        this.log.warn(
          { host: this.cfg.host, port: this.cfg.port, err: err.message, failedAttempts: this.failedAttempts },
          'graphite: flush not delivered, will retry with the next flush',
        )
      })
      socket.on('close', () => {
        this.sockets.delete(socket)
        if (!delivered) {
          // Put the batch back in front of anything queued meanwhile.
          this.pending = [...batch, ...this.pending]
          this.pendingBytes += batchBytes
        }
        resolve()
      })
    })
  }
}
