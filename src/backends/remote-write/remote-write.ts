import os from 'node:os'
import { compress } from 'snappyjs'
import { type FlushData, type FlushHeader, type FlushWriter, writeWhole } from '../../aggregate/flush-data'
import type { RemoteWriteBackendConfig } from '../../config/schema'
import type { Logger } from '../../log'
import type { Backend, BackendStats } from '../backend'
import { runInSlices } from '../encode'
import { HttpPusher } from '../http-push'
import { Outbox, outboxOptions } from '../outbox'
import { encodeWriteRequest } from './proto'
import { type FlushSummary, RemoteWriteSeries } from './series-state'

/**
 * Prometheus remote write 1.0: each flush is pushed as snappy-compressed
 * protobuf WriteRequests (at most maxSeriesPerRequest series each), through
 * the outbox one flush at a time and in order, since receivers refuse
 * samples older than the latest they have; retries and refusals as
 * HttpPusher handles them.
 */
export class RemoteWriteBackend implements Backend {
  readonly name: string
  private readonly outbox: Outbox
  private readonly series: RemoteWriteSeries
  private readonly pusher: HttpPusher
  private lastConflicts = 0
  private lastInvalid = 0
  /** Requests refused with a 4xx other than 429 (dropped). */
  get rejectedRequests(): number {
    return this.pusher.rejectedRequests
  }

  /** The last flush's figures (for tests and the benchmark). */
  lastFlush: FlushSummary & { encodeMs: number; bytes: number } = { series: 0, stale: 0, encodeMs: 0, bytes: 0 }

  constructor(
    private readonly cfg: RemoteWriteBackendConfig,
    prefixStats: string,
    private readonly log: Logger,
  ) {
    this.name = `remote_write ${cfg.url}`
    this.series = new RemoteWriteSeries({
      labels: { instance: cfg.instance ?? os.hostname(), job: cfg.job, ...cfg.labels },
      prefixStats,
      buckets: cfg.buckets,
      nativeSchema: cfg.nativeHistograms === false ? null : cfg.nativeHistograms.schema,
    })
    const headers = {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
      'x-prometheus-remote-write-version': '0.1.0',
      'user-agent': 'statsd-ts',
    }
    this.pusher = new HttpPusher(cfg, headers, log)
    // One flush per attempt: a flush refused for good must never take later ones with it.
    this.outbox = new Outbox((payloads, signal) => this.pusher.deliver(payloads, signal), outboxOptions(cfg, { batchBytes: 1 }), log)
  }

  /** Reads the secret files once, so that a wrong path is a start-up error rather than failed deliveries. */
  start(): Promise<void> {
    return this.pusher.check(`remote_write backend ${this.cfg.url}`)
  }

  /**
   * Applies each part to the series as it comes (cheap: no allocation per
   * value), then encodes the whole flush in slices at the end.
   */
  beginFlush(header: FlushHeader): FlushWriter {
    this.series.begin()
    return {
      write: (part) => this.series.write(part),
      end: async (trailer) => {
        this.series.writeTrailer(trailer)
        await this.encode(header.timestamp * 1000)
      },
    }
  }

  flush(data: FlushData): Promise<void> {
    return writeWhole((header) => this.beginFlush(header), data)
  }

  stats(): BackendStats {
    return this.outbox.stats()
  }

  async close(): Promise<void> {
    await this.outbox.close()
  }

  private async encode(timestampMs: number): Promise<void> {
    const started = performance.now()
    const summary: FlushSummary = { series: 0, stale: 0 }
    const chunks: Buffer[] = []
    let bytes = 0
    await runInSlices(this.series.timeseries(timestampMs, this.cfg.maxSeriesPerRequest, summary), (batch) => {
      const request = compress(Buffer.from(encodeWriteRequest(batch)))
      chunks.push(request)
      bytes += request.length
    })
    this.lastFlush = { ...summary, encodeMs: performance.now() - started, bytes }
    this.warnAboutSeries()
    if (chunks.length > 0) this.outbox.push({ chunks, bytes })
  }

  /** Series left out (refused by kind, or invalid), logged as they first appear. */
  private warnAboutSeries(): void {
    if (this.series.conflicts > this.lastConflicts) {
      this.log.warn({ conflicts: this.series.conflicts }, 'metrics skipped: the name is already sent as another type')
      this.lastConflicts = this.series.conflicts
    }
    if (this.series.invalid > this.lastInvalid) {
      this.log.warn({ invalid: this.series.invalid, last: this.series.lastInvalid }, 'series not sent: a receiver would refuse them')
      this.lastInvalid = this.series.invalid
    }
  }
}
