import { once } from 'node:events'
import type { Writable } from 'node:stream'
import type { FlushData } from '../../aggregate/flush-data'
import type { ConsoleBackendConfig } from '../../config/schema'
import type { Logger } from '../../log'
import type { Backend, BackendStats } from '../backend'
import { Outbox, outboxOptions } from '../outbox'

/**
 * Prints each flush as one JSON document on stdout (Etsy's console backend,
 * minus raw timer values). Through an outbox like any backend: a stdout pipe
 * nobody reads must not grow memory or hold up the flush loop.
 */
export class ConsoleBackend implements Backend {
  readonly name = 'console'
  private readonly outbox: Outbox
  private readonly startedAt = Math.round(Date.now() / 1000)

  constructor(
    private readonly cfg: ConsoleBackendConfig,
    log: Logger,
    private readonly out: Writable = process.stdout,
  ) {
    this.outbox = new Outbox((payloads, signal) => this.write(payloads, signal), outboxOptions(cfg), log)
  }

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
    const buf = Buffer.from(JSON.stringify(doc, null, this.cfg.prettyprint ? 2 : undefined) + '\n')
    this.outbox.push({ chunks: [buf], bytes: buf.length })
  }

  stats(): BackendStats {
    return this.outbox.stats()
  }

  /** Etsy's console backend reports both as Unix seconds, and sets both to its start time. */
  etsyStatus(): [string, number][] {
    const { lastSuccess } = this.outbox.stats()
    return [
      ['lastFlush', lastSuccess === 0 ? this.startedAt : Math.round(lastSuccess / 1000)],
      ['lastException', this.startedAt],
    ]
  }

  close(): Promise<void> {
    return this.outbox.close()
  }

  /** Waits until the stream has taken what it was given before (so it never holds more than one flush), then hands it this one. */
  private async write(payloads: readonly { chunks: readonly Buffer[] }[], signal: AbortSignal): Promise<void> {
    if (this.out.writableNeedDrain) await once(this.out, 'drain', { signal })
    for (const p of payloads) for (const chunk of p.chunks) this.out.write(chunk)
  }
}
