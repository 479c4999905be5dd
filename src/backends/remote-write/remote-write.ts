import os from 'node:os'
import { compress } from 'snappyjs'
import type { FlushHeader, FlushWriter } from '../../aggregate/flush-data'
import type { RemoteWriteBackendConfig } from '../../config/schema'
import type { Logger } from '../../log'
import { HttpPushBackend } from '../http-push'
import { encodeWriteRequest } from './proto'
import { type FlushSummary, RemoteWriteSeries } from './series-state'

/**
 * Prometheus remote write 1.0: each flush is pushed as snappy-compressed
 * protobuf WriteRequests (at most maxSeriesPerRequest series each), one
 * flush at a time and in order, since receivers refuse samples older than
 * the latest they have; retries and refusals as HttpPusher handles them.
 */
export class RemoteWriteBackend extends HttpPushBackend {
  private readonly series: RemoteWriteSeries
  private lastConflicts = 0
  private lastInvalid = 0
  /** The last flush's figures (for tests and the benchmark). */
  lastFlush: FlushSummary & { encodeMs: number; bytes: number } = { series: 0, stale: 0, encodeMs: 0, bytes: 0 }

  constructor(
    private readonly cfg: RemoteWriteBackendConfig,
    prefixStats: string,
    private readonly log: Logger,
  ) {
    const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' }
    super('remote_write', cfg, headers, log)
    this.series = new RemoteWriteSeries({
      labels: { instance: cfg.instance ?? os.hostname(), job: cfg.job, ...cfg.labels },
      prefixStats,
      buckets: cfg.buckets,
      nativeSchema: cfg.nativeHistograms === false ? null : cfg.nativeHistograms.schema,
    })
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
        const started = performance.now()
        const summary: FlushSummary = { series: 0, stale: 0 }
        const batches = this.series.timeseries(header.timestamp * 1000, this.cfg.maxSeriesPerRequest, summary)
        // Timestamped points first: usually older than the flush, so that a series carrying both stays in order.
        const points = this.series.pointSeries(trailer.points ?? [], this.cfg.maxSeriesPerRequest)
        const bytes = await this.push(chain(points, batches), (batch) => compress(Buffer.from(encodeWriteRequest(batch))))
        this.lastFlush = { ...summary, encodeMs: performance.now() - started, bytes }
        this.warnAboutSeries()
      },
    }
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

function* chain<T>(...runs: Iterable<T>[]): Generator<T> {
  for (const run of runs) yield* run
}
