import type { Logger } from '../log'
import type { BackendStats } from './backend'

/** What an outbox holds for its backend: its size for the bound, and a release once the outbox is done with it. */
export interface Held {
  /** Bytes it holds, counted against maxBytes. */
  readonly bytes: number
  /** Called once the outbox is done with it (delivered or dropped): its memory may be reused. */
  release?(): void
}

/** One undelivered unit (a flush, or a batch of repeated packets), already encoded. */
export interface Payload extends Held {
  readonly chunks: readonly Buffer[]
}

/**
 * A payload still being written (Outbox.open): delivery can start with its
 * first items while later ones are made. Items are only ever added, so an
 * attempt that failed half-way sends it again from its first item.
 */
export class GrowingPayload<T> implements Held {
  readonly items: T[] = []
  bytes = 0
  complete = false
  /** Its writer failed half-way: it is dropped, never sent in part. */
  abandoned = false
  private waiting: { have: number; resolve: () => void }[] = []

  constructor(
    private readonly grew: (bytes: number) => void,
    private readonly dropped: () => void,
    readonly release?: () => void,
  ) {}

  /** One more item, holding `bytes`. */
  append(item: T, bytes: number): void {
    if (this.complete) throw new Error('payload already complete')
    this.items.push(item)
    this.bytes += bytes
    this.grew(bytes)
    this.wake()
  }

  /** No more items: the last attempt can finish. */
  end(): void {
    this.complete = true
    this.wake()
  }

  /** Its writer failed: the outbox drops it (counted), and an attempt sending it fails. */
  abandon(): void {
    if (this.complete) return
    this.abandoned = this.complete = true
    this.dropped()
    this.wake()
  }

  /** Resolves once there are more than `have` items, or it is complete. */
  more(have: number): Promise<void> {
    if (this.complete || this.items.length > have) return Promise.resolve()
    return new Promise((resolve) => this.waiting.push({ have, resolve }))
  }

  /** Whole once complete: resolves then. */
  completed(): Promise<void> {
    return this.more(Infinity)
  }

  private wake(): void {
    const still = []
    for (const w of this.waiting) {
      if (this.complete || this.items.length > w.have) w.resolve()
      else still.push(w)
    }
    this.waiting = still
  }
}

/**
 * Each payload's items as they become available, in runs: all of a
 * complete one at once, a growing one's as they are added. Stops early once
 * `stop` says so; throws if a payload was abandoned.
 */
export async function* itemsOf<T>(payloads: readonly GrowingPayload<T>[], stop: () => boolean): AsyncGenerator<readonly T[]> {
  for (const payload of payloads) {
    let sent = 0
    for (;;) {
      if (stop()) return
      if (payload.abandoned) throw new Error('a flush was abandoned while being sent')
      const have = payload.items.length
      if (have > sent) {
        // Items appended while the consumer holds this run come in the next one.
        yield payload.items.slice(sent, have)
        sent = have
      }
      if (payload.complete && sent === payload.items.length) break
      await payload.more(sent)
    }
  }
}

/** Resolves once every payload is complete. */
function allComplete(payloads: readonly Held[]): Promise<void> {
  return Promise.all(payloads.map((p) => (p instanceof GrowingPayload ? p.completed() : undefined))).then(() => {})
}

/**
 * Sends payloads to the receiver. Resolves only when the receiver has taken
 * all of them; rejects otherwise. Must give up promptly when `signal` aborts
 * (the attempt's deadline); one that can tell then that the receiver took
 * everything may resolve instead, synchronously in its abort listener, and
 * the payloads count as delivered.
 * Reject with Undeliverable when sending again could not help (or could
 * double-count), so the payloads are dropped and counted instead of retried.
 * Only a backend that uses Outbox.open gets GrowingPayloads: it must then
 * wait for their later items (itemsOf).
 */
export type Deliver<P extends Held = Payload> = (payloads: readonly P[], signal: AbortSignal) => Promise<void>

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
  /**
   * Attempts at once. 1: one at a time, strictly in order, what queued
   * meanwhile going together in the next (HTTP stores reject out-of-order
   * samples). More: each payload's first attempt starts as soon as it is
   * queued, on its own, while fewer than this many are in flight (a payload
   * queued at the bound waits for one to end, at the latest at its
   * deadline); failed payloads go again together, one attempt at a time,
   * in their original order, after the backoff.
   */
  connections: number
}

export const OUTBOX_DEFAULTS: OutboxOptions = {
  maxBytes: 16 * 1024 * 1024,
  timeoutMs: 5_000,
  retryInitialMs: 500,
  retryMaxMs: 30_000,
  batchBytes: Infinity,
  connections: 1,
}

/** Repeated failure and drop messages are logged at most this often. */
const LOG_EVERY_MS = 10_000

interface Entry<P extends Held> {
  payload: P
  /** Queue order: the queue stays sorted by it, so payloads that failed go back where they were. */
  seq: number
  attempts: number
  /** Where its bytes are counted: a growing payload's later chunks are added there. */
  place: 'queued' | 'inFlight' | 'gone'
}

/**
 * A backend's own bounded queue of undelivered payloads, with a bounded
 * number of deliveries in flight (OutboxOptions.connections), a deadline per
 * attempt, retry with exponential backoff, and drop-oldest (counted and
 * logged) at the byte bound. Everything happens
 * on timers and callbacks: pushing never waits, so the flush loop, other
 * backends and ingest never wait on this receiver.
 */
export class Outbox<P extends Held = Payload> {
  private queue: Entry<P>[] = []
  private readonly attempts = new Set<Promise<void>>()
  /** A retry (an attempt for payloads that failed before) is in flight. */
  private retrying = false
  private nextSeq = 0
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
    private readonly deliver: Deliver<P>,
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
  push(payload: P): void {
    if (this.closed) {
      payload.release?.()
      this.drop(1, 'closed')
      return
    }
    this.queue.push({ payload, seq: this.nextSeq++, attempts: 0, place: 'queued' })
    this.queuedBytes += payload.bytes
    this.enforceBound()
    this.pump()
  }

  /**
   * Queues a payload that is still being written, so that its delivery can
   * start before it is complete. It is retried, dropped and bounded as one
   * unit like any other; an attempt's deadline runs from when every payload
   * it carries is complete, so slow formatting never counts against the
   * receiver.
   */
  open<T>(release?: (payload: GrowingPayload<T>) => void): GrowingPayload<T> {
    const payload: GrowingPayload<T> = new GrowingPayload<T>(
      (bytes) => this.grew(entry, bytes),
      () => this.abandoned(entry),
      release && (() => release(payload)),
    )
    // The backend that opens payloads delivers them (its P includes them).
    const entry = { payload, seq: this.nextSeq++, attempts: 0, place: 'queued' } as unknown as Entry<P>
    if (this.closed) {
      this.retire(entry)
      this.drop(1, 'closed')
      return payload
    }
    this.queue.push(entry)
    this.pump()
    return payload
  }

  /** Waits for the running attempts, then makes one last attempt (no backoff) for what is left; drops the rest. */
  async close(): Promise<void> {
    this.closed = true
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
    await Promise.all(this.attempts)
    while (this.queue.length > 0) {
      const delivered = this.counts.delivered
      await this.start(this.batch(this.queue))
      if (this.counts.delivered === delivered) break
    }
    if (this.queue.length > 0) {
      const bytes = this.queuedBytes
      const flushes = this.queue.length
      this.counts.flushesDropped += flushes
      for (const entry of this.queue) this.retire(entry)
      this.queue = []
      this.queuedBytes = 0
      this.log.error({ flushes, bytes, ...this.stats() }, 'undelivered at exit, dropped')
    }
  }

  private pump(): void {
    while (!this.closed && this.attempts.size < this.opts.connections && this.queue.length > 0) {
      if (this.opts.connections === 1) {
        if (this.retryTimer !== null) return
        void this.start(this.batch(this.queue))
        continue
      }
      const failed = this.queue.filter((e) => e.attempts > 0)
      if (failed.length > 0 && this.retryTimer === null && !this.retrying) {
        void this.start(this.batch(failed))
        continue
      }
      const fresh = this.queue.find((e) => e.attempts === 0)
      if (fresh === undefined) return
      void this.start([fresh])
    }
  }

  /** The first of `entries` (in queue order) that fit in one attempt's batchBytes; at least one. */
  private batch(entries: readonly Entry<P>[]): Entry<P>[] {
    let bytes = 0
    let n = 0
    while (n < entries.length && (n === 0 || bytes + entries[n]!.payload.bytes <= this.opts.batchBytes)) {
      bytes += entries[n]!.payload.bytes
      n++
    }
    return entries.slice(0, n)
  }

  private start(batch: Entry<P>[]): Promise<void> {
    const retry = batch[0]!.attempts > 0
    const given = new Set(batch)
    this.queue = this.queue.filter((e) => !given.has(e))
    for (const entry of batch) {
      entry.place = 'inFlight'
      this.queuedBytes -= entry.payload.bytes
      this.inFlightBytes += entry.payload.bytes
      if (entry.attempts++ > 0) this.counts.retries++
    }
    this.inFlightFlushes += batch.length
    if (retry) this.retrying = true
    const attempt: Promise<void> = this.run(batch).finally(() => {
      this.attempts.delete(attempt)
      if (retry) this.retrying = false
      this.pump()
    })
    this.attempts.add(attempt)
    return attempt
  }

  /** The attempt carrying `batch` is over: its bytes are no longer in flight. */
  private landed(batch: readonly Entry<P>[]): void {
    for (const entry of batch) this.inFlightBytes -= entry.payload.bytes
    this.inFlightFlushes -= batch.length
  }

  /** A payload whose writer failed: dropped now if queued, else when its attempt fails (chunksOf). */
  private abandoned(entry: Entry<P>): void {
    if (entry.place !== 'queued') return
    this.queue.splice(this.queue.indexOf(entry), 1)
    this.queuedBytes -= entry.payload.bytes
    this.retire(entry)
    this.drop(1, 'its flush failed while being written')
  }

  /** The outbox is done with an entry: its Buffers may be reused. */
  private retire(entry: Entry<P>): void {
    if (entry.place === 'gone') return
    entry.place = 'gone'
    entry.payload.release?.()
  }

  /** A growing payload's new chunk counts where the payload is. */
  private grew(entry: Entry<P>, bytes: number): void {
    if (entry.place === 'gone') return
    if (entry.place === 'queued') this.queuedBytes += bytes
    else this.inFlightBytes += bytes
    this.enforceBound()
  }

  private async run(batch: Entry<P>[]): Promise<void> {
    const controller = new AbortController()
    const payloads = batch.map((e) => e.payload)
    let timer: NodeJS.Timeout | undefined
    let settled = false
    const deadline = new Promise<never>((_, reject) => {
      void allComplete(payloads).then(() => {
        if (settled) return
        timer = setTimeout(() => {
          const err = new Error(`no delivery within ${this.opts.timeoutMs} ms`)
          controller.abort(err)
          // After the promise jobs of the abort: a deliver that resolved in its abort listener wins the race.
          setImmediate(() => reject(err))
        }, this.opts.timeoutMs)
        // The outbox's own timers never keep the process alive; its sockets decide that.
        timer.unref()
      })
    })
    try {
      await Promise.race([this.deliver(payloads, controller.signal), deadline])
      settled = true
      clearTimeout(timer)
      this.landed(batch)
      for (const entry of batch) this.retire(entry)
      this.counts.delivered += batch.length
      this.counts.lastSuccess = Date.now()
      this.backoffMs = this.opts.retryInitialMs
      // The receiver takes flushes again: what waits for a retry goes now.
      if (this.retryTimer !== null) {
        clearTimeout(this.retryTimer)
        this.retryTimer = null
      }
      if (this.lastFailureLog > -Infinity) {
        this.log.info(this.stats(), 'delivering again')
        this.lastFailureLog = -Infinity
      }
    } catch (err) {
      settled = true
      clearTimeout(timer)
      if (!controller.signal.aborted) controller.abort(err)
      this.landed(batch)
      this.fail(batch, err)
    }
  }

  private fail(batch: Entry<P>[], err: unknown): void {
    this.counts.failedAttempts++
    this.counts.lastFailure = Date.now()
    const message = err instanceof Error ? err.message : String(err)
    const now = Date.now()
    if (now - this.lastFailureLog >= LOG_EVERY_MS) {
      this.lastFailureLog = now
      this.log.warn({ err: message, retryInMs: this.backoffMs, ...this.stats() }, 'delivery failed')
    }
    if (err instanceof Undeliverable) {
      for (const entry of batch) this.retire(entry)
      this.drop(batch.length, message)
      return
    }
    const abandoned = batch.filter((e) => e.payload instanceof GrowingPayload && e.payload.abandoned)
    if (abandoned.length > 0) {
      for (const entry of abandoned) this.retire(entry)
      this.drop(abandoned.length, 'its flush failed while being written')
      batch = batch.filter((e) => e.place !== 'gone')
    }
    // Back where they were, oldest first, then the bound applies to them like to anything queued.
    for (const entry of batch) {
      entry.place = 'queued'
      this.queuedBytes += entry.payload.bytes
    }
    this.queue = [...this.queue, ...batch].sort((a, b) => a.seq - b.seq)
    this.enforceBound()
    if (this.closed || this.retryTimer !== null) return
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
      const entry = this.queue.shift()!
      this.retire(entry)
      this.queuedBytes -= entry.payload.bytes
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
    connections: base.connections,
  }
}
