import { readFile } from 'node:fs/promises'
import os from 'node:os'
import { compress } from 'snappyjs'
import { type FlushData, type FlushHeader, type FlushWriter, writeWhole } from '../../aggregate/flush-data'
import type { RemoteWriteBackendConfig } from '../../config/schema'
import type { Logger } from '../../log'
import type { Backend, BackendStats } from '../backend'
import { runInSlices } from '../encode'
import { Outbox, outboxOptions, type Payload, Undeliverable } from '../outbox'
import { encodeWriteRequest } from './proto'
import { type FlushSummary, RemoteWriteSeries } from './series-state'

/** Repeated warnings (rejected requests, invalid series) are logged at most this often. */
const LOG_EVERY_MS = 10_000

/**
 * Prometheus remote write 1.0: each flush is pushed as snappy-compressed
 * protobuf WriteRequests (at most maxSeriesPerRequest series each), through
 * the outbox one flush at a time and in order, since receivers refuse
 * samples older than the latest they have. 5xx, 429 and network failures
 * are retried with backoff from the first request not yet taken (a retry
 * never sends a request twice); any other 4xx is dropped, counted and
 * logged with the receiver's message, and the flush goes on with its next
 * request.
 */
export class RemoteWriteBackend implements Backend {
  readonly name: string
  private readonly outbox: Outbox
  private readonly series: RemoteWriteSeries
  private readonly headers: Record<string, string>
  /** Requests of each payload the receiver already took or refused for good: a retry starts after them. */
  private readonly done = new WeakMap<Payload, number>()
  private lastConflicts = 0
  private lastInvalid = 0
  private lastRejectLog = -Infinity
  /** Requests refused with a 4xx other than 429 (dropped), and the series they carried. */
  rejectedRequests = 0
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
    this.headers = {
      ...cfg.headers,
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
      'x-prometheus-remote-write-version': '0.1.0',
      'user-agent': 'statsd-ts',
    }
    // One flush per attempt: a flush refused for good must never take later ones with it.
    this.outbox = new Outbox((payloads, signal) => this.post(payloads, signal), outboxOptions(cfg, { batchBytes: 1 }), log)
  }

  /** Reads the secret files once, so that a wrong path is a start-up error rather than failed deliveries. */
  async start(): Promise<void> {
    try {
      await this.authorization()
    } catch (err) {
      throw new Error(`remote_write backend ${this.cfg.url}: ${(err as Error).message}`)
    }
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

  /** The Authorization header, read from its file now (so that a rotated secret is picked up). */
  private async authorization(): Promise<string | undefined> {
    if (this.cfg.bearerTokenFile !== undefined) {
      return `Bearer ${(await readFile(this.cfg.bearerTokenFile, 'utf8')).trim()}`
    }
    if (this.cfg.basicAuth !== undefined) {
      const password = (await readFile(this.cfg.basicAuth.passwordFile, 'utf8')).replace(/\r?\n$/, '')
      return `Basic ${Buffer.from(`${this.cfg.basicAuth.username}:${password}`).toString('base64')}`
    }
    return undefined
  }

  private async post(payloads: readonly Payload[], signal: AbortSignal): Promise<void> {
    const authorization = await this.authorization()
    const headers = authorization === undefined ? this.headers : { ...this.headers, authorization }
    for (const payload of payloads) {
      let refused = 0
      let message = ''
      for (let i = this.done.get(payload) ?? 0; i < payload.chunks.length; i++) {
        const res = await fetch(this.cfg.url, { method: 'POST', headers, body: payload.chunks[i], signal })
        const text = (await res.text()).slice(0, 300)
        if (!res.ok) {
          message = `HTTP ${res.status}: ${text.trim()}`
          if (res.status >= 500 || res.status === 429 || res.status < 400) throw new Error(message)
          refused++
          this.rejected(message)
        }
        this.done.set(payload, i + 1)
      }
      // A flush whose every request was refused is dropped as a whole (counted by the outbox).
      if (refused === payload.chunks.length) throw new Undeliverable(message)
    }
  }

  private rejected(message: string): void {
    this.rejectedRequests++
    const now = Date.now()
    if (now - this.lastRejectLog < LOG_EVERY_MS) return
    this.lastRejectLog = now
    this.log.error({ receiver: message, rejectedRequests: this.rejectedRequests }, 'remote write request refused by the receiver, dropped')
  }
}
