import type { FlushData } from '../aggregate/flush-data'
import type { ConsoleBackendConfig } from '../config/schema'
import type { BackendStatus } from '../core/server-control'
import type { Backend } from './backend'

/** Prints each flush as one JSON document on stdout (Etsy's console backend, minus raw timer values). */
export class ConsoleBackend implements Backend {
  readonly name = 'console'
  private readonly startedAt = Math.round(Date.now() / 1000)
  private flushes = 0
  private lastFlush = 0

  constructor(
    private readonly cfg: ConsoleBackendConfig,
    private readonly write: (text: string) => void = (text) => process.stdout.write(text),
  ) {}

  async flush(data: FlushData): Promise<void> {
    const doc = {
      timestamp: data.timestamp,
      counters: Object.fromEntries(data.counters.map((c) => [c.name, c.value])),
      counter_rates: Object.fromEntries(data.counters.map((c) => [c.name, c.rate])),
      timer_data: Object.fromEntries(data.timers.map((t) => [t.name, Object.fromEntries(t.stats)])),
      gauges: Object.fromEntries(data.gauges.map((g) => [g.name, g.value])),
      sets: Object.fromEntries(data.sets.map((s) => [s.name, s.count])),
      processing_time: data.processingTime,
      self_metrics: Object.fromEntries(data.selfMetrics.map((m) => [m.name, m.value])),
    }
    this.write(JSON.stringify(doc, null, this.cfg.prettyprint ? 2 : undefined) + '\n')
    this.flushes++
    this.lastFlush = Date.now()
  }

  status(): BackendStatus {
    return {
      name: this.name,
      target: 'stdout',
      lastSuccess: this.lastFlush,
      lastFailure: 0,
      flushesSent: this.flushes,
      flushesFailed: 0,
      flushesRetried: 0,
      flushesDropped: 0,
      undeliveredFlushes: 0,
      undeliveredBytes: 0,
      // What Etsy's console backend reports, as Unix seconds (it sets both to the start time).
      etsyStatus: [
        ['lastFlush', this.lastFlush === 0 ? this.startedAt : Math.round(this.lastFlush / 1000)],
        ['lastException', this.startedAt],
      ],
    }
  }

  async close(): Promise<void> {}
}
