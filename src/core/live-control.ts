import {
  type BackendStatus,
  type FlushRecord,
  Health,
  type ListenerStatus,
  type MetricStore,
  type MetricTables,
  type MetricType,
  type Readiness,
  type ServerControl,
  type ServerInfo,
  type StatusSnapshot,
} from './server-control'

/** Flushes kept for the status page and the flush-duration histogram. */
const FLUSH_HISTORY = 30
/** Queue samples per flush interval, for readiness. */
const QUEUE_SAMPLES_PER_INTERVAL = 4

export interface LiveControlParts {
  info: ServerInfo
  config: Readonly<Record<string, unknown>>
  store: MetricStore
  queue: { readonly length: number; readonly bytes: number }
  queueLimits: { maxPackets: number; maxBytes: number }
  listeners: () => ListenerStatus[]
  backends: () => BackendStatus[]
}

/**
 * The ServerControl of a running server. It also stands last in the list of
 * flush receivers (it has a Backend's shape), so it learns of each flush
 * without the flush pump knowing about the admin plane.
 */
export class LiveControl implements ServerControl {
  readonly name = 'admin-status'
  readonly health = new Health()
  readonly config: Readonly<Record<string, unknown>>
  private readonly flushes: FlushRecord[] = []
  private readonly selfTotals: Record<string, number> = {}
  private previous = { packets: 0, lines: 0, bytes: 0, badLines: 0 }
  private lastMessageSeen = 0
  private listening = false
  /** Since when the queue has never been seen empty (0: it was empty at the last sample). */
  private queueBusySince = 0
  private readonly sampler: NodeJS.Timeout

  constructor(private readonly parts: LiveControlParts) {
    this.config = parts.config
    const every = Math.max(50, Math.floor(parts.info.flushIntervalMs / QUEUE_SAMPLES_PER_INTERVAL))
    this.sampler = setInterval(() => this.sampleQueue(), every)
    this.sampler.unref()
  }

  /** Every listener is bound (called once start-up is complete) or is being closed (shutdown). */
  setListening(listening: boolean): void {
    this.listening = listening
  }

  // ---- the flush receiver (Backend's shape) ----

  /** Only a flush's end matters here: its self-metrics, and the aggregator's figures by then. */
  beginFlush(): { write(): void; end(trailer: { selfMetrics: readonly { name: string; value: number }[] }): Promise<void> } {
    return { write: () => {}, end: (trailer) => this.flush(trailer) }
  }

  async flush(data: { selfMetrics: readonly { name: string; value: number }[] }): Promise<void> {
    const now = Date.now()
    const figures = this.parts.store.inspect()
    const interval = this.parts.info.flushIntervalMs
    const self: Record<string, number> = {}
    for (const { name, value } of data.selfMetrics) {
      self[name] = (self[name] ?? 0) + value
      this.selfTotals[name] = (this.selfTotals[name] ?? 0) + value
    }
    const record: FlushRecord = {
      at: now,
      durationMs: figures.lastFlushMs,
      // Flushes are scheduled on multiples of the interval from the start time.
      lagMs: Math.max(0, ((now - figures.lastFlushMs - this.parts.info.startedAt) % interval) | 0),
      packets: figures.packets - this.previous.packets,
      lines: figures.lines - this.previous.lines,
      bytes: figures.bytes - this.previous.bytes,
      badLines: figures.badLines - this.previous.badLines,
      selfMetrics: self,
    }
    this.previous = { packets: figures.packets, lines: figures.lines, bytes: figures.bytes, badLines: figures.badLines }
    if (record.packets > 0) this.lastMessageSeen = now
    this.flushes.push(record)
    if (this.flushes.length > FLUSH_HISTORY) this.flushes.shift()
  }

  async close(): Promise<void> {
    clearInterval(this.sampler)
  }

  // ---- ServerControl ----

  snapshot(): StatusSnapshot {
    const now = Date.now()
    const { info, queue, queueLimits } = this.parts
    return {
      info,
      uptimeS: Math.round((now - info.startedAt) / 1000),
      health: this.health.current,
      ready: this.readiness(now),
      queue: { packets: queue.length, bytes: queue.bytes, ...queueLimits },
      aggregator: this.parts.store.inspect(),
      selfTotals: { ...this.selfTotals },
      listeners: this.parts.listeners().map((l) => ({ ...l, bound: l.bound && this.listening })),
      backends: this.parts.backends(),
      flushes: this.flushes.slice(),
      lastMessageSeen: this.lastMessageSeen || info.startedAt,
    }
  }

  tables(): MetricTables {
    return this.parts.store.tables()
  }

  deleteMatching(type: MetricType, pattern: string): string[] {
    return this.parts.store.deleteMatching(type, pattern)
  }

  private readiness(now: number): Readiness {
    const reasons: string[] = []
    if (!this.listening) reasons.push('listeners are not (or no longer) bound')
    const interval = this.parts.info.flushIntervalMs
    if (this.queueBusySince > 0 && now - this.queueBusySince > interval) {
      reasons.push(`the aggregator is behind: its queue has not emptied for ${now - this.queueBusySince} ms`)
    }
    const last = this.flushes[this.flushes.length - 1]
    if (last !== undefined && last.lagMs + last.durationMs > interval) {
      reasons.push(`the last flush ran ${last.lagMs + last.durationMs} ms late`)
    }
    return { ready: reasons.length === 0, reasons }
  }

  private sampleQueue(): void {
    if (this.parts.queue.length === 0) this.queueBusySince = 0
    else if (this.queueBusySince === 0) this.queueBusySince = Date.now()
  }
}
