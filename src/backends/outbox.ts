import type { Logger } from '../log'
import type { BackendStats } from './backend'

/** One undelivered unit (a flush, or a batch of repeated packets), already encoded. */
export interface Payload {
  readonly chunks: readonly Buffer[]
  readonly bytes: number
}

/**
 * Sends payloads to the receiver. Resolves only when the receiver has taken
 * all of them; rejects otherwise. Must give up promptly when `signal` aborts.
 * Reject with Undeliverable when sending again could not help (or could
 * double-count), so the payloads are dropped and counted instead of retried.
 */
export type Deliver = (payloads: readonly Payload[], signal: AbortSignal) => Promise<void>

export class Undeliverable extends Error {}

export interface OutboxOptions {
  /** Undelivered bytes kept; past this the oldest payloads are dropped (the newest one is always kept). */
  maxBytes: number
  /** Deadline of one delivery attempt. */
  timeoutMs: number
  /** First wait after a failure; doubles after each further failure, up to retryMaxMs. */
  retryInitialMs: number
  retryMaxMs: number
  /** At most this many bytes go to one attempt (at least one payload always does). */
  batchBytes: number
}

export const OUTBOX_DEFAULTS: OutboxOptions = {
  maxBytes: 16 * 1024 * 1024,
  timeoutMs: 5_000,
  retryInitialMs: 500,
  retryMaxMs: 30_000,
  batchBytes: Infinity,
}

/** Repeated failure and drop messages are logged at most this often. */
const LOG_EVERY_MS = 10_000

interface Entry {
  payload: Payload
  attempts: number
}

/**
 * A backend's own bounded queue of undelivered payloads, with one delivery in
 * flight at a time, a deadline per attempt, retry with exponential backoff,
 * and drop-oldest (counted and logged) at the byte bound. Everything happens
 * on timers and callbacks: pushing never waits, so the flush loop, other
 * backends and ingest never wait on this receiver.
 */
export class Outbox {
  private queue: Entry[] = []
  private attempt: Promise<void> | null = null
  private retryTimer: NodeJS.Timeout | null = null
  private backoffMs: number
  private closed = false
  private readonly counts = { delivered: 0, failedAttempts: 0, retries: 0, flushesDropped: 0, lastSuccess: 0, lastFailure: 0 }
  private inFlightFlushes = 0
  private queuedBytes = 0
  private inFlightBytes = 0
  private lastFailureLog = -Infinity
  private lastDropLog = -Infinity
  private droppedSinceLog = 0

  constructor(
    private readonly deliver: Deliver,
    private readonly opts: OutboxOptions,
    private readonly log: Logger,
  ) {
    this.backoffMs = opts.retryInitialMs
  }

  stats(): BackendStats {
    return {
      ...this.counts,
      bytesQueued: this.queuedBytes + this.inFlightBytes,
      flushesQueued: this.queue.length + this.inFlightFlushes,
    }
  }

  /** Queues a payload and starts a delivery unless one is running or backing off. */
  push(payload: Payload): void {
    if (this.closed) {
      this.drop(1, 'closed')
      return
    }
    this.queue.push({ payload, attempts: 0 })
    this.queuedBytes += payload.bytes
    this.enforceBound()
    this.pump()
  }

  /** Waits for the running attempt, then makes one last attempt (no backoff) for what is left; drops the rest. */
  async close(): Promise<void> {
    this.closed = true
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
    if (this.attempt !== null) await this.attempt
    while (this.queue.length > 0) {
      const delivered = this.counts.delivered
      await this.start()
      if (this.counts.delivered === delivered) break
    }
    if (this.queue.length > 0) {
      const bytes = this.queuedBytes
      const flushes = this.queue.length
      this.counts.flushesDropped += flushes
      this.queue = []
      this.queuedBytes = 0
      this.log.error({ flushes, bytes, ...this.stats() }, 'undelivered at exit, dropped')
    }
  }

  private pump(): void {
    if (this.attempt !== null || this.retryTimer !== null || this.closed || this.queue.length === 0) return
    void this.start()
  }

  private start(): Promise<void> {
    let bytes = 0
    let n = 0
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.payload.bytes <= this.opts.batchBytes)) {
      bytes += this.queue[n]!.payload.bytes
      n++
    }
    const batch = this.queue.splice(0, n)
    this.queuedBytes -= bytes
    this.inFlightBytes = bytes
    this.inFlightFlushes = batch.length
    for (const entry of batch) if (entry.attempts++ > 0) this.counts.retries++
    this.attempt = this.run(batch).finally(() => {
      this.attempt = null
      this.inFlightBytes = 0
      this.inFlightFlushes = 0
      this.pump()
    })
    return this.attempt
  }

  private async run(batch: Entry[]): Promise<void> {
    const controller = new AbortController()
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`no delivery within ${this.opts.timeoutMs} ms`)
        controller.abort(err)
        reject(err)
      }, this.opts.timeoutMs)
      // The outbox's own timers never keep the process alive; its sockets decide that.
      timer.unref()
    })
    try {
      await Promise.race([this.deliver(batch.map((e) => e.payload), controller.signal), deadline])
      clearTimeout(timer)
      this.counts.delivered += batch.length
      this.counts.lastSuccess = Date.now()
      this.backoffMs = this.opts.retryInitialMs
      if (this.lastFailureLog > -Infinity) {
        this.log.info(this.stats(), 'delivering again')
        this.lastFailureLog = -Infinity
      }
    } catch (err) {
      clearTimeout(timer)
      if (!controller.signal.aborted) controller.abort(err)
      this.fail(batch, err)
    }
  }

  private fail(batch: Entry[], err: unknown): void {
    this.counts.failedAttempts++
    this.counts.lastFailure = Date.now()
    const message = err instanceof Error ? err.message : String(err)
    const now = Date.now()
    if (now - this.lastFailureLog >= LOG_EVERY_MS) {
      this.lastFailureLog = now
      this.log.warn({ err: message, retryInMs: this.backoffMs, ...this.stats() }, 'delivery failed')
    }
    if (err instanceof Undeliverable) {
      this.drop(batch.length, message)
      return
    }
    // Back in front, oldest first, then the bound applies to them like to anything queued.
    this.queue.unshift(...batch)
    for (const entry of batch) this.queuedBytes += entry.payload.bytes
    this.inFlightBytes = 0
    this.inFlightFlushes = 0
    this.enforceBound()
    if (this.closed) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      this.pump()
    }, this.backoffMs)
    this.retryTimer.unref()
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.retryMaxMs)
  }

  /** Drops the oldest queued payloads until the bound holds, always keeping the newest. */
  private enforceBound(): void {
    let dropped = 0
    while (this.queuedBytes + this.inFlightBytes > this.opts.maxBytes && this.queue.length > 1) {
      this.queuedBytes -= this.queue.shift()!.payload.bytes
      dropped++
    }
    if (dropped > 0) this.drop(dropped, `more than ${this.opts.maxBytes} bytes undelivered`)
  }

  private drop(flushes: number, reason: string): void {
    this.counts.flushesDropped += flushes
    this.droppedSinceLog += flushes
    const now = Date.now()
    if (now - this.lastDropLog >= LOG_EVERY_MS) {
      this.lastDropLog = now
      this.log.error({ reason, dropped: this.droppedSinceLog, ...this.stats() }, 'oldest undelivered flushes dropped')
      this.droppedSinceLog = 0
    }
  }
}

/** The outbox keys every backend's config accepts (all optional). */
export interface OutboxConfig {
  maxQueueBytes?: number | undefined
  timeoutMs?: number | undefined
  retryInitialMs?: number | undefined
  retryMaxMs?: number | undefined
}

/** A backend's outbox settings: its config, else the backend's own defaults, else OUTBOX_DEFAULTS. */
export function outboxOptions(cfg: OutboxConfig, defaults: Partial<OutboxOptions> = {}): OutboxOptions {
  const base = { ...OUTBOX_DEFAULTS, ...defaults }
  return {
    maxBytes: cfg.maxQueueBytes ?? base.maxBytes,
    timeoutMs: cfg.timeoutMs ?? base.timeoutMs,
    retryInitialMs: cfg.retryInitialMs ?? base.retryInitialMs,
    retryMaxMs: cfg.retryMaxMs ?? base.retryMaxMs,
    batchBytes: base.batchBytes,
  }
}
