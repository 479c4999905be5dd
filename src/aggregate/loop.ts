import type { Backend } from '../backends/backend'
import type { IngestCounters } from '../ingest/counters'
import type { PacketQueue } from '../ingest/queue'
import { ingestSelfMetrics, inputLost } from '../ingest/self-metrics'
import type { Logger } from '../log'
import type { Aggregator } from './aggregator'

/** How long one drain turn may hold the event loop before letting sockets be read again. */
const DRAIN_SLICE_MS = 5
const PACKETS_BETWEEN_CLOCK_CHECKS = 64

/**
 * The aggregator loop: drains the packet queue in short slices (so listeners
 * keep reading while a backlog is parsed) and flushes on a fixed schedule
 * aligned to the start time, as Etsy does to avoid drift.
 */
export class AggregatorLoop {
  private drainScheduled = false
  private flushTimer: NodeJS.Timeout | null = null
  private nextFlushAt = 0
  private readonly inFlight = new Set<Promise<void>>()
  private stopped = false

  constructor(
    private readonly queue: PacketQueue,
    private readonly aggregator: Aggregator,
    /** The backends, and anything else that takes each flush (the admin plane's record of them). */
    private readonly backends: readonly Pick<Backend, 'name' | 'flush'>[],
    private readonly ingestCounters: IngestCounters,
    private readonly flushIntervalMs: number,
    private readonly log: Logger,
  ) {}

  start(startedAt: number): void {
    this.queue.onReadable = () => this.scheduleDrain()
    this.nextFlushAt = startedAt + this.flushIntervalMs
    this.armFlushTimer()
    if (this.queue.length > 0) this.scheduleDrain()
  }

  /** Drains what is queued, flushes one last time and waits for the backends. */
  async stop(): Promise<void> {
    this.stopped = true
    this.queue.onReadable = null
    if (this.flushTimer !== null) clearTimeout(this.flushTimer)
    this.flush()
    await Promise.all(this.inFlight)
  }

  /** Parses everything queued, computes the interval's results and hands them to every backend. */
  flush(): void {
    this.drain(Infinity)
    const drops = this.ingestCounters.takeSnapshot()
    this.aggregator.addBadLines(drops.oversizedLines)
    const selfMetrics = ingestSelfMetrics(drops)
    const nonZero = Object.fromEntries(selfMetrics.filter((m) => m.value > 0).map((m) => [m.name, m.value]))
    if (inputLost(drops)) {
      this.log.warn(nonZero, 'input lost during the last flush interval')
    } else if (drops.idleTimeouts > 0 || drops.connectionErrors > 0) {
      this.log.info(nonZero, 'stream clients dropped during the last flush interval')
    }
    const data = this.aggregator.flush(Date.now())
    data.selfMetrics.push(...selfMetrics)
    for (const backend of this.backends) {
      const sent = backend
        .flush(data)
        .catch((err: unknown) => this.log.error({ backend: backend.name, err }, 'backend flush failed'))
        .finally(() => this.inFlight.delete(sent))
      this.inFlight.add(sent)
    }
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.stopped) return
    this.drainScheduled = true
    setImmediate(() => {
      this.drainScheduled = false
      this.drain(DRAIN_SLICE_MS)
      if (this.queue.length > 0) this.scheduleDrain()
    })
  }

  private drain(budgetMs: number): void {
    const deadline = Date.now() + budgetMs
    let sinceClockCheck = 0
    for (let packet = this.queue.shift(); packet !== undefined; packet = this.queue.shift()) {
      try {
        this.aggregator.ingest(packet, this.queue.shiftedSource)
      } catch (err) {
        // The parser is built not to throw; if it ever does, lose one packet, not the daemon.
        this.log.error({ err, bytes: packet.length }, 'packet could not be processed')
      }
      if (++sinceClockCheck === PACKETS_BETWEEN_CLOCK_CHECKS) {
        sinceClockCheck = 0
        if (Date.now() >= deadline) return
      }
    }
  }

  private armFlushTimer(): void {
    const now = Date.now()
    // After a stall (suspended VM, huge backlog) skip missed slots instead of flushing in a burst.
    while (this.nextFlushAt <= now) this.nextFlushAt += this.flushIntervalMs
    this.flushTimer = setTimeout(() => {
      this.flush()
      if (!this.stopped) this.armFlushTimer()
    }, this.nextFlushAt - now)
  }
}
