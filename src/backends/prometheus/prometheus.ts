import { once } from 'node:events'
import http from 'node:http'
import { type FlushData, type FlushHeader, type FlushWriter, gatherFlush } from '../../aggregate/flush-data'
import type { PrometheusBackendConfig } from '../../config/schema'
import { hostPort } from '../../core/host-port'
import type { Logger } from '../../log'
import type { Backend, BackendStats } from '../backend'
import { CHUNK_CHARS, runInSlices, SerialQueue } from '../encode'
import { PrometheusSeries } from './exposition'


/**
 * Serves the latest values for Prometheus to scrape (statsd_exporter's
 * conventions, port 9102). Nothing is pushed, so there is no outbox: a flush
 * is applied to the series table in slices, and a scrape streams the table
 * in slices; a slow scraper only holds its own response.
 */
export class PrometheusBackend implements Backend {
  readonly name: string
  private readonly series: PrometheusSeries
  private readonly order = new SerialQueue()
  private readonly server: http.Server
  private applied = 0
  private lastApplied = 0
  private lastConflicts = 0

  constructor(
    private readonly cfg: PrometheusBackendConfig,
    prefixStats: string,
    private readonly log: Logger,
  ) {
    this.name = `prometheus ${hostPort(cfg.address, cfg.port)}`
    this.series = new PrometheusSeries(prefixStats)
    this.server = http.createServer((req, res) => void this.serve(req, res))
  }

  /** The bound port (for port 0). */
  get port(): number {
    return (this.server.address() as { port: number }).port
  }

  async start(): Promise<void> {
    this.server.listen(this.cfg.port, this.cfg.address)
    try {
      await once(this.server, 'listening')
    } catch (err) {
      throw new Error(`prometheus backend cannot listen on ${hostPort(this.cfg.address, this.cfg.port)}: ${(err as Error).message}`)
    }
  }

  /** Gathers the flush's parts, then applies the whole flush to the table in slices (a scrape never sees half a flush). */
  beginFlush(header: FlushHeader): FlushWriter {
    return gatherFlush(header, (data) => this.flush(data))
  }

  flush(data: FlushData): Promise<void> {
    return this.order.run(async () => {
      const now = Date.now()
      await runInSlices(this.series.apply(data, now), () => {})
      await runInSlices(this.series.expire(now - this.cfg.expireAfterMs), () => {})
      this.applied++
      this.lastApplied = Date.now()
      if (this.series.conflicts > this.lastConflicts) {
        this.log.warn({ conflicts: this.series.conflicts }, 'metrics skipped: the name is already exposed as another type')
        this.lastConflicts = this.series.conflicts
      }
    })
  }

  stats(): BackendStats {
    return {
      delivered: this.applied,
      failedAttempts: 0,
      retries: 0,
      bytesQueued: 0,
      flushesDropped: 0,
      flushesQueued: 0,
      lastSuccess: this.lastApplied,
      lastFailure: 0,
    }
  }

  async close(): Promise<void> {
    await this.order.run(async () => {})
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' || path !== this.cfg.path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`try GET ${this.cfg.path}\n`)
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
    res.on('error', () => {})
    // Rendered from the table as it is between flushes; a flush waits for the scrape's turn.
    await this.order.run(() => runInSlices(this.series.render(CHUNK_CHARS), (piece) => res.write(piece)))
    res.end()
  }
}
