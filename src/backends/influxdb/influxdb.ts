import { type FlushData, type FlushHeader, type FlushWriter, gatherFlush } from '../../aggregate/flush-data'
import { withoutCredentials } from '../../config/redact'
import type { InfluxdbBackendConfig } from '../../config/schema'
import type { Logger } from '../../log'
import type { Backend, BackendStats } from '../backend'
import { type HttpsFetch, httpsFetch } from '../https-fetch'
import { CHUNK_CHARS, encodeInSlices, lineRuns, SerialQueue } from '../encode'
import { Outbox, outboxOptions, type Payload, Undeliverable } from '../outbox'
import { influxLines } from './line-protocol'

/**
 * InfluxDB over HTTP: 1.x (`/write?db=`) or 2.x (`/api/v2/write` with org,
 * bucket and token). A flush is one outbox payload, posted as requests of at
 * most batchBytes; if one request fails the whole flush is sent again, which
 * is harmless because Influx keeps one value per series, field and timestamp.
 */
export class InfluxdbBackend implements Backend {
  readonly name: string
  private readonly outbox: Outbox
  private readonly writeUrl: string
  private readonly headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' }
  private readonly order = new SerialQueue()
  private readonly https: HttpsFetch

  constructor(
    private readonly cfg: InfluxdbBackendConfig,
    private readonly prefixStats: string,
    log: Logger,
  ) {
    this.name = `influxdb ${withoutCredentials(cfg.url)}`
    const url = new URL(cfg.url)
    const base = url.pathname.replace(/\/$/, '')
    if (cfg.database !== undefined) {
      url.pathname = base + '/write'
      url.searchParams.set('db', cfg.database)
      if (cfg.username !== undefined) url.searchParams.set('u', cfg.username)
      if (cfg.password !== undefined) url.searchParams.set('p', cfg.password)
    } else {
      url.pathname = base + '/api/v2/write'
      url.searchParams.set('org', cfg.org!)
      url.searchParams.set('bucket', cfg.bucket!)
      this.headers.authorization = `Token ${cfg.token!}`
    }
    url.searchParams.set('precision', 's')
    this.writeUrl = url.toString()
    this.https = httpsFetch(cfg.caFile)
    this.outbox = new Outbox((payloads, signal) => this.post(payloads, signal), outboxOptions(cfg), log)
  }

  /** Gathers the flush's parts, then writes the whole flush in slices (influxLines). */
  beginFlush(header: FlushHeader): FlushWriter {
    return gatherFlush(header, (data) => this.flush(data))
  }

  flush(data: FlushData): Promise<void> {
    return this.order.run(async () => {
      const pieces = influxLines(data, this.prefixStats, Math.min(this.cfg.batchBytes, CHUNK_CHARS))
      this.outbox.push(await encodeInSlices(pieces, (text) => Buffer.from(text, 'utf8')))
    })
  }

  stats(): BackendStats {
    return this.outbox.stats()
  }

  async close(): Promise<void> {
    await this.order.run(async () => {})
    await this.outbox.close()
    await this.https.close()
  }

  private async post(payloads: readonly Payload[], signal: AbortSignal): Promise<void> {
    for (const body of batches(payloads, this.cfg.batchBytes)) {
      const res = await this.https.fetch(this.writeUrl, { method: 'POST', headers: this.headers, body, signal })
      if (res.ok) {
        await res.arrayBuffer()
        continue
      }
      const detail = `HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`
      // A request Influx calls malformed or too large will fail the same way every time.
      if (res.status === 400 || res.status === 413) throw new Undeliverable(detail)
      throw new Error(detail)
    }
  }
}

/** The payloads regrouped into request bodies of at most `limit` bytes, cut at line ends (a longer line goes alone). */
function* batches(payloads: readonly Payload[], limit: number): Generator<Buffer> {
  let group: Buffer[] = []
  let size = 0
  for (const payload of payloads) {
    for (const chunk of payload.chunks.flatMap((c) => [...lineRuns(c, limit)])) {
      if (size > 0 && size + chunk.length > limit) {
        yield Buffer.concat(group, size)
        group = []
        size = 0
      }
      group.push(chunk)
      size += chunk.length
    }
  }
  if (size > 0) yield Buffer.concat(group, size)
}

