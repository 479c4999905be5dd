import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { type FlushData, type FlushHeader, type FlushWriter, writeWhole } from '../../aggregate/flush-data'
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

  flush(data: FlushData): Promise<void> {
    return writeWhole((header) => this.beginFlush(header), data)
  }

  /**
   * The document is written section by section as the parts come (each
   * part's entries encoded at once), so a large flush is never one string.
   * Keys keep the flush's order (JSON.stringify of an object would put
   * integer-like names first).
   */
  beginFlush(header: FlushHeader): FlushWriter {
    const indent = this.cfg.prettyprint ? 2 : 0
    const counters = new JsonObject(indent, 1)
    const rates = new JsonObject(indent, 1)
    const timers = new JsonObject(indent, 1)
    const gauges = new JsonObject(indent, 1)
    const sets = new JsonObject(indent, 1)
    return {
      write: (part) => {
        for (const c of part.counters) counters.add(c.name, JSON.stringify(c.value))
        for (const c of part.counters) rates.add(c.name, JSON.stringify(c.rate))
        for (const t of part.timers.entries()) {
          const stats = new JsonObject(indent, 2)
          for (const [stat, value] of t.stats) stats.add(stat, JSON.stringify(value))
          timers.add(t.name, stats.text())
        }
        for (const g of part.gauges) gauges.add(g.name, JSON.stringify(g.value))
        for (const s of part.sets) sets.add(s.name, JSON.stringify(s.count))
        for (const section of [counters, rates, timers, gauges, sets]) section.seal()
      },
      end: async (trailer) => {
        const self = new JsonObject(indent, 1)
        for (const m of trailer.selfMetrics) self.add(m.name, JSON.stringify(m.value))
        const doc = new JsonObject(indent, 0)
        doc.add('timestamp', JSON.stringify(header.timestamp))
        doc.addChunks('counters', counters)
        doc.addChunks('counter_rates', rates)
        doc.addChunks('timer_data', timers)
        doc.addChunks('gauges', gauges)
        doc.addChunks('sets', sets)
        doc.add('processing_time', JSON.stringify(trailer.processingTime))
        doc.addChunks('self_metrics', self)
        if (trailer.events !== undefined && trailer.events.length > 0) doc.add('events', JSON.stringify(trailer.events, null, indent))
        if (trailer.serviceChecks !== undefined && trailer.serviceChecks.length > 0) doc.add('service_checks', JSON.stringify(trailer.serviceChecks, null, indent))
        if (trailer.points !== undefined && trailer.points.length > 0) doc.add('timestamped_points', JSON.stringify(trailer.points, null, indent))
        const chunks = doc.close('\n')
        this.outbox.push({ chunks, bytes: chunks.reduce((n, c) => n + c.length, 0) })
      },
    }
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

/**
 * A JSON object written entry by entry into Buffers, printed as
 * JSON.stringify(object, null, indent) prints it at nesting `depth`.
 */
class JsonObject {
  private readonly chunks: Buffer[] = []
  private pending = ''
  private entries = 0
  private readonly separator: string
  private readonly colon: string

  constructor(
    private readonly indent: number,
    private readonly depth: number,
  ) {
    this.separator = indent > 0 ? '\n' + ' '.repeat(indent * (depth + 1)) : ''
    this.colon = indent > 0 ? ': ' : ':'
  }

  add(key: string, json: string): void {
    this.pending += (this.entries++ === 0 ? '' : ',') + this.separator + JSON.stringify(key) + this.colon + json
  }

  /** Another object's chunks as this key's value. */
  addChunks(key: string, value: JsonObject): void {
    this.add(key, '')
    this.seal()
    for (const chunk of value.close('')) this.chunks.push(chunk)
  }

  /** Encodes what was added since the last seal. */
  seal(): void {
    if (this.pending === '') return
    this.chunks.push(Buffer.from(this.pending))
    this.pending = ''
  }

  /** The object in one string (one that was never sealed: small enough to print at once). */
  text(): string {
    return this.entries === 0 ? '{}' : '{' + this.pending + this.closing()
  }

  /** The whole object, `{` to `}` then `after`. */
  close(after: string): Buffer[] {
    this.seal()
    if (this.entries === 0) return [Buffer.from('{}' + after)]
    return [Buffer.from('{'), ...this.chunks, Buffer.from(this.closing() + after)]
  }

  private closing(): string {
    return (this.indent > 0 ? '\n' + ' '.repeat(this.indent * this.depth) : '') + '}'
  }
}
