import { setTimeout as sleep } from 'node:timers/promises'
import type { TcpListenerConfig } from '../../config/schema'
import type { IngestCounters } from '../../core/ingest-counters'
import type { Pausable, PacketQueue } from '../../queue/queue'
import { RateLimitedLog } from './rate-limited-log'
import type { Logger } from '../../log'
import { LineAssembler } from './line-assembler'
import { HOLD_BELOW_BYTES, HOLD_MS, type HeldClientsHost, type HoldRecord, ReadHolds } from './read-holds'

export type StreamLimits = Pick<TcpListenerConfig, 'maxLineBytes' | 'idleTimeoutMs' | 'maxConnections'>

const NEWLINE = 0x0a
/**
 * Idle clients are looked for this many times per idleTimeoutMs, so one is
 * disconnected between 1 and 1.25 idleTimeoutMs after its last byte. One
 * timer per listener: a timer per connection costs more than the rest of a
 * short-lived connection's bookkeeping.
 */
const IDLE_SWEEPS = 4
/** A client that has sent nothing for this long after shutdown began has nothing more in flight. */
const SHUTDOWN_QUIET_MS = 250
/** One client connection, however it is read (libuv-handles.ts or net-sockets.ts). */
export abstract class StreamClient {
  /** When it last sent something, or when reading last resumed (Date.now()). */
  lastDataAt = 0
  /** Made on the first chunk that is not whole lines: most short-lived clients never need one. */
  lines: LineAssembler | null = null
  /** A dropped line has been logged at warn: later ones go to debug. */
  warned = false
  ended = false
  /** When it was last read (Date.now(); see ReadHolds). */
  lastReadAt = -Infinity
  /** Read by the listener's hold timer, not on readiness (see ReadHolds). */
  held = false
  /** How it fared while held, made on its first hold (see ReadHolds). */
  holdRecord: HoldRecord | null = null

  /** "host:port", or "local" on a unix socket. Only for log messages: it may cost a system call. */
  abstract peer(): string
  abstract stopReading(): void
  abstract startReading(): void
  /** Tells the client we are going (FIN) and keeps reading. */
  abstract sendFin(): void
  /** Closes at once: a FIN, as the receive buffer is empty after an EOF, an idle time or a quiet shutdown. */
  abstract close(): void
  /** Whether readNow() works. Only these clients are held (see ReadHolds). */
  get readsDirectly(): boolean {
    return false
  }
  /**
   * Reads what the kernel has queued for it into `into`, without waiting,
   * while it is not reading on readiness: the bytes read, 0 at EOF, -1 if
   * nothing is queued. Throws on a connection error.
   */
  readNow(_into: Buffer): number {
    throw new Error('this client cannot be read directly')
  }
}

/**
 * The clients of one stream listener and everything done to them as a group:
 * their lines to the queue, maxConnections, idle disconnects, pausing while
 * the queue is above its high-water mark, and the graceful close at
 * shutdown. Whatever way a connection ends, its pending partial line is
 * queued.
 */
export class StreamClients implements Pausable, HeldClientsHost {
  private readonly open = new Set<StreamClient>()
  /** Paused by the queue: while we do not read, the clients are not idle, we are. */
  private pausedByQueue = false
  private readonly sweeper: NodeJS.Timeout
  private readonly holds: ReadHolds | null
  // Refusals and accept errors can come in floods; each is counted exactly.
  private readonly refusals: RateLimitedLog
  private readonly acceptErrors: RateLimitedLog
  private readonly handshakeFailures: RateLimitedLog

  constructor(
    private readonly limits: StreamLimits,
    private readonly queue: PacketQueue,
    private readonly counters: IngestCounters,
    private readonly log: Logger,
    private readonly source: number,
    /** Whether clients read often, in small chunks, are held (see ReadHolds). */
    holdBusyClients: boolean,
  ) {
    this.holds = holdBusyClients ? new ReadHolds(this) : null
    this.sweeper = setInterval(() => this.disconnectIdle(), limits.idleTimeoutMs / IDLE_SWEEPS).unref()
    this.refusals = new RateLimitedLog(log, 'warn', 'client refused: maxConnections reached (see README, "maxConnections")')
    this.acceptErrors = new RateLimitedLog(log, 'error', 'cannot accept a client')
    this.handshakeFailures = new RateLimitedLog(log, 'warn', 'TLS handshake failed: client disconnected')
    queue.addPausable(this)
  }

  get paused(): boolean {
    return this.pausedByQueue
  }

  get size(): number {
    return this.open.size
  }

  /** Whether one more client may be served; if not, the refusal is counted and logged (the caller closes it). */
  admit(peer: () => string): boolean {
    const max = this.limits.maxConnections
    if (max === undefined || this.open.size < max) return true
    this.refused(peer())
    return false
  }

  refused(peer: string): void {
    this.counters.refusedConnections++
    this.refusals.event({ maxConnections: this.limits.maxConnections, peer })
  }

  /** accept() failed (out of descriptors...): the listener keeps serving. */
  acceptFailed(err: Error): void {
    this.counters.acceptErrors++
    this.acceptErrors.event({ err })
  }

  /** A TLS client failed its handshake (bad or expired certificate, timeout, not TLS at all): it never became a client. */
  handshakeFailed(err: Error & { code?: string }, peer: string): void {
    this.counters.tlsHandshakeFailures = (this.counters.tlsHandshakeFailures ?? 0) + 1
    const reason = err.code ?? err.message
    this.handshakeFailures.event({ peer, reason })
    if (this.log.isLevelEnabled('debug')) this.log.debug({ peer, reason }, 'TLS handshake failed')
  }

  add(client: StreamClient): void {
    client.lastDataAt = Date.now()
    this.open.add(client)
    if (this.pausedByQueue) client.stopReading()
    else client.startReading()
  }

  /** A chunk read on readiness. */
  data(client: StreamClient, chunk: Buffer): void {
    this.take(client, chunk)
    const now = client.lastDataAt
    // Busy: read again within HOLD_MS (see ReadHolds).
    const busy = now - client.lastReadAt < HOLD_MS
    client.lastReadAt = now
    if (busy && this.holds !== null && client.readsDirectly && chunk.length < HOLD_BELOW_BYTES && !client.held && !this.pausedByQueue) {
      this.holds.hold(client, now)
    }
  }

  take(client: StreamClient, chunk: Buffer): void {
    client.lastDataAt = Date.now()
    // Whole lines, none of them too long: the chunk is the packet, as is.
    if (client.lines === null && chunk[chunk.length - 1] === NEWLINE && chunk.length <= this.limits.maxLineBytes) {
      this.queue.pushStream(chunk, this.source)
    } else {
      client.lines ??= new LineAssembler(
        this.limits.maxLineBytes,
        (packet) => this.queue.pushStream(packet, this.source),
        (preview) => this.lineTooLong(client, preview),
      )
      client.lines.write(chunk)
    }
  }

  /** The connection failed (reset...): counted, and ended like any other. */
  failed(client: StreamClient, err: Error): void {
    this.counters.connectionErrors++
    if (this.log.isLevelEnabled('debug')) this.log.debug({ peer: client.peer(), err }, 'client connection error')
    this.end(client)
  }

  /** Queues the pending partial line and closes the connection; later calls do nothing. */
  end(client: StreamClient): void {
    if (client.ended) return
    client.ended = true
    this.open.delete(client)
    client.lines?.finish()
    client.close()
  }

  pause(): void {
    this.pausedByQueue = true
    for (const client of this.open) client.stopReading()
  }

  resume(): void {
    this.pausedByQueue = false
    const now = Date.now()
    for (const client of this.open) {
      client.lastDataAt = now
      if (!client.held) client.startReading()
    }
    this.holds?.resume()
  }

  /**
   * Sends every client a FIN (a client that reads learns we are going and
   * closes; we keep reading until it does), then closes each connection
   * once its client has closed or gone quiet. Any still sending when
   * `timeoutMs` runs out are cut off, counted and logged.
   */
  async stop(timeoutMs: number): Promise<void> {
    for (const client of this.open) client.sendFin()
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const now = Date.now()
      for (const client of this.open) {
        if (!this.pausedByQueue && now - client.lastDataAt >= SHUTDOWN_QUIET_MS) this.end(client)
      }
      if (this.open.size === 0) break
      if (now >= deadline) {
        this.counters.shutdownDisconnects += this.open.size
        this.log.warn(
          { clients: this.open.size, shutdownTimeoutMs: timeoutMs },
          'shutdown time ran out: clients still sending were disconnected',
        )
        for (const client of this.open) this.end(client)
        break
      }
      await sleep(Math.min(SHUTDOWN_QUIET_MS / 5, deadline - now))
    }
    clearInterval(this.sweeper)
    this.holds?.stop()
    this.queue.removePausable(this)
  }

  private disconnectIdle(): void {
    if (this.pausedByQueue) return
    const now = Date.now()
    const idleMs = this.limits.idleTimeoutMs
    for (const client of this.open) {
      if (now - client.lastDataAt < idleMs) continue
      this.counters.idleTimeouts++
      if (this.log.isLevelEnabled('debug')) this.log.debug({ peer: client.peer(), idleTimeoutMs: idleMs }, 'idle client disconnected')
      this.end(client)
    }
  }

  private lineTooLong(client: StreamClient, preview: Buffer): void {
    this.counters.oversizedLines++
    // A misbehaving client can send many long lines: warn once per
    // connection, the counter tells how many.
    const level = client.warned ? 'debug' : 'warn'
    client.warned = true
    this.log[level](
      { peer: client.peer(), maxLineBytes: this.limits.maxLineBytes, start: preview.toString('utf8') },
      'line longer than maxLineBytes dropped',
    )
  }
}
