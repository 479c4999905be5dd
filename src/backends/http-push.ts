import { readFile } from 'node:fs/promises'
import { type FlushData, type FlushHeader, type FlushWriter, writeWhole } from '../aggregate/flush-data'
import type { Logger } from '../log'
import type { Backend, BackendStats } from './backend'
import { httpsFetch } from './https-fetch'
import { runInSlices } from './encode'
import { Outbox, type OutboxConfig, outboxOptions, type Payload, Undeliverable } from './outbox'

/*
 * Pushing encoded flushes over HTTP POST, for remote write and OTLP: each
 * payload is a flush whose chunks are whole request bodies, sent in order.
 * The outbox calls deliver() with one payload at a time (batchBytes 1), so
 * a flush refused for good never takes later ones with it.
 *   - 5xx, 429, a refused or broken connection, no answer in time: thrown,
 *     so the outbox retries with backoff; the retry starts at the first
 *     request of the flush not yet taken, so nothing is sent twice.
 *   - any other 4xx: that request is dropped, counted and logged with the
 *     receiver's message, and the flush goes on with its next request; a
 *     flush whose every request was refused is Undeliverable (the outbox
 *     counts it dropped).
 */

/** Repeated refusals are logged at most this often. */
const LOG_EVERY_MS = 10_000

export interface HttpPushConfig {
  url: string
  headers: Record<string, string>
  basicAuth?: { username: string; passwordFile: string } | undefined
  bearerTokenFile?: string | undefined
  /** https: PEM of the CAs to trust for the receiver's certificate, instead of the system's. */
  caFile?: string | undefined
}

export class HttpPusher {
  /** Requests of each payload the receiver already took or refused for good: a retry starts after them. */
  private readonly done = new WeakMap<Payload, number>()
  private lastRejectLog = -Infinity
  /** Requests refused with a 4xx other than 429 (dropped). */
  rejectedRequests = 0
  readonly https: ReturnType<typeof httpsFetch>

  constructor(
    private readonly cfg: HttpPushConfig,
    /** The backend's own headers (content type, encoding...), over the configured ones. */
    private readonly fixedHeaders: Record<string, string>,
    private readonly log: Logger,
    /** Looks at a 2xx answer's body (OTLP's partial success); may throw nothing. */
    private readonly accepted: (body: Buffer) => void = () => {},
  ) {
    this.https = httpsFetch(cfg.caFile)
  }

  /** Reads the secret files once, so that a wrong path is a start-up error rather than failed deliveries. */
  async check(what: string): Promise<void> {
    try {
      await this.authorization()
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`)
    }
  }

  /** The outbox's Deliver. */
  async deliver(payloads: readonly Payload[], signal: AbortSignal): Promise<void> {
    const authorization = await this.authorization()
    const headers = { ...this.cfg.headers, ...this.fixedHeaders }
    if (authorization !== undefined) headers.authorization = authorization
    for (const payload of payloads) {
      let refused = 0
      let message = ''
      for (let i = this.done.get(payload) ?? 0; i < payload.chunks.length; i++) {
        const res = await this.https.fetch(this.cfg.url, { method: 'POST', headers, body: payload.chunks[i], signal })
        const body = Buffer.from(await res.arrayBuffer())
        if (res.ok) this.accepted(body)
        else {
          message = `HTTP ${res.status}: ${body.toString('utf8', 0, 300).trim()}`
          if (res.status >= 500 || res.status === 429 || res.status < 400) throw new Error(message)
          refused++
          this.rejected(message)
        }
        this.done.set(payload, i + 1)
      }
      if (refused > 0 && refused === payload.chunks.length) throw new Undeliverable(message)
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

  private rejected(message: string): void {
    this.rejectedRequests++
    const now = Date.now()
    if (now - this.lastRejectLog < LOG_EVERY_MS) return
    this.lastRejectLog = now
    this.log.error({ receiver: message, rejectedRequests: this.rejectedRequests }, 'request refused by the receiver, dropped')
  }
}

/**
 * A backend that pushes each flush as HTTP requests (remote write, OTLP):
 * its outbox takes one flush per attempt, so a flush refused for good never
 * takes later ones with it, and flushes go one at a time, in order.
 */
export abstract class HttpPushBackend implements Backend {
  readonly name: string
  /** Both bucket the timers' values (histograms). */
  readonly wantsTimerValues = true
  private readonly pusher: HttpPusher
  private readonly outbox: Outbox

  constructor(
    type: string,
    cfg: HttpPushConfig & OutboxConfig,
    headers: Record<string, string>,
    log: Logger,
    accepted?: (body: Buffer) => void,
  ) {
    this.name = `${type} ${cfg.url}`
    this.pusher = new HttpPusher(cfg, { ...headers, 'user-agent': 'statsd-ts' }, log, accepted)
    this.outbox = new Outbox((payloads, signal) => this.pusher.deliver(payloads, signal), outboxOptions(cfg, { batchBytes: 1 }), log)
  }

  /** Reads the secret files once, so that a wrong path is a start-up error rather than failed deliveries. */
  start(): Promise<void> {
    return this.pusher.check(`${this.name.replace(' ', ' backend ')}`)
  }

  abstract beginFlush(header: FlushHeader): FlushWriter

  flush(data: FlushData): Promise<void> {
    return writeWhole((header) => this.beginFlush(header), data)
  }

  stats(): BackendStats {
    return this.outbox.stats()
  }

  /** Requests refused with a 4xx other than 429 (dropped). */
  get rejectedRequests(): number {
    return this.pusher.rejectedRequests
  }

  async close(): Promise<void> {
    await this.outbox.close()
    await this.pusher.https.close()
  }

  /** Encodes each batch as one request body, in slices, then queues them as one flush; returns its bytes. */
  protected async push<T>(batches: Iterable<T>, encode: (batch: T) => Buffer): Promise<number> {
    const chunks: Buffer[] = []
    let bytes = 0
    await runInSlices(batches, (batch) => {
      const body = encode(batch)
      chunks.push(body)
      bytes += body.length
    })
    if (chunks.length > 0) this.outbox.push({ chunks, bytes })
    return bytes
  }
}
