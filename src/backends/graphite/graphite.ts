import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type tls from 'node:tls'
import { type FlushData, type FlushHeader, type FlushWriter, writeWhole } from '../../aggregate/flush-data'
import type { GraphiteBackendConfig } from '../../config/schema'
import type { Logger } from '../../log'
import { StatsgodFormatter } from '../../naming/statsgod'
import type { Backend, BackendStats } from '../backend'
import { chunkPool } from '../byte-chunks'
import { runInSlices, SerialQueue } from '../encode'
import { type ChunkListener, type FlushLines, GraphiteFormatter, type GraphiteHealth, type GraphiteNaming } from '../graphite-format'
import { chunksOf, type GrowingPayload, Outbox, outboxOptions, type Payload } from '../outbox'
import { pickleLines } from './pickle'
import { ResetAtDeadline, sendAndClose } from './send'

/** What the backend needs from a naming scheme; GraphiteFormatter (Etsy's names) is one. */
export interface GraphiteLineFormatter {
  begin(header: FlushHeader, onChunk?: ChunkListener): FlushLines
  formatHealth(health: GraphiteHealth, timestamp: number): string
}

export type GraphiteServerNaming = Omit<GraphiteNaming, keyof GraphiteBackendConfig>

const encodeText = (text: string): Buffer => Buffer.from(text, 'utf8')

/**
 * Connections open at once to one Graphite: each flush's first attempt
 * starts at its flush time, as in Etsy, so that a new flush never waits
 * behind a stuck one; past this bound it waits for one to end (at the
 * latest at its deadline, timeoutMs).
 */
export const GRAPHITE_CONNECTIONS = 4

/** Plaintext Buffers as pickle frames, a Buffer per turn of the event loop. */
async function pickled(payload: Payload): Promise<Payload> {
  const chunks: Buffer[] = []
  await runInSlices(payload.chunks, (chunk) => chunks.push(pickleLines(chunk.toString())))
  return { chunks, bytes: chunks.reduce((n, c) => n + c.length, 0) }
}

/**
 * Graphite over TCP, plaintext or pickle, one connection per delivery as
 * Etsy does. Each flush is written into Buffers part by part as it is
 * computed, and handed to the backend's own outbox, which retries what
 * Graphite did not take and keeps at most its byte bound. In plaintext a
 * large flush goes to the outbox from its first completed Buffer on, so
 * sending overlaps formatting; a retry sends the whole flush again.
 */
export class GraphiteBackend implements Backend {
  readonly name: string
  private readonly outbox: Outbox
  private readonly health: GraphiteHealth
  private readonly encode: (text: string) => Buffer
  private readonly order = new SerialQueue()
  /** Attempts reset at their deadline after the receiver had acknowledged part of the flush: that part may arrive twice. */
  private resentInPart = 0
  private readonly target: { host: string; port: number; tls?: tls.ConnectionOptions | undefined }

  constructor(
    private readonly cfg: GraphiteBackendConfig,
    startupTime: number,
    log: Logger,
    private readonly formatter: GraphiteLineFormatter,
  ) {
    this.name = `graphite ${cfg.host}:${cfg.port}`
    this.target = { host: cfg.host, port: cfg.port, tls: cfg.tls && tlsTarget(cfg.host, cfg.tls.caFile) }
    this.encode = cfg.protocol === 'pickle' ? pickleLines : encodeText
    // As Etsy 0.9: last_exception stays 0 until a flush fails.
    this.health = { lastException: 0, lastFlush: startupTime, flushTime: 0, flushLength: 0 }
    this.outbox = new Outbox((payloads, signal) => this.deliver(payloads, signal), outboxOptions(cfg, { connections: GRAPHITE_CONNECTIONS }), log)
  }

  beginFlush(header: FlushHeader): FlushWriter {
    const started = Date.now()
    if (this.cfg.protocol === 'pickle') {
      const lines = this.formatter.begin(header)
      return {
        write: (part) => lines.write(part),
        end: (trailer) =>
          this.order.run(async () => {
            const plain = lines.end(trailer, started)
            const payload = await pickled(plain)
            plain.release()
            this.outbox.push(payload)
          }),
      }
    }
    let payload: GrowingPayload | null = null
    const open = (): GrowingPayload => this.outbox.open((done) => chunkPool.give(done.chunks))
    const lines = this.formatter.begin(header, (chunk) => (payload ??= open()).append(chunk))
    // Never half a flush: if writing fails, what was queued of it is dropped (and counted).
    const orAbandon = (step: () => void): void => {
      try {
        step()
      } catch (err) {
        payload?.abandon()
        throw err
      }
    }
    return {
      write: (part) => orAbandon(() => lines.write(part)),
      end: (trailer) =>
        this.order.run(async () => {
          orAbandon(() => lines.end(trailer, started))
          ;(payload ?? open()).end()
        }),
    }
  }

  flush(data: FlushData): Promise<void> {
    return writeWhole((header) => this.beginFlush(header), data)
  }

  stats(): BackendStats {
    return { ...this.outbox.stats(), resentInPart: this.resentInPart }
  }

  etsyStatus(): [string, number][] {
    const h = this.health
    return [
      ['last_flush', h.lastFlush],
      ['last_exception', h.lastException],
      ['flush_time', h.flushTime],
      ['flush_length', h.flushLength],
    ]
  }

  async close(): Promise<void> {
    await this.order.run(async () => {})
    await this.outbox.close()
  }

  private async deliver(payloads: readonly Payload[], signal: AbortSignal): Promise<void> {
    try {
      await sendAndClose(this.target, (stop) => this.withHealth(payloads, stop), signal)
    } catch (err) {
      this.health.lastException = Math.round(Date.now() / 1000)
      if (err instanceof ResetAtDeadline && err.bytesAcked > 0) this.resentInPart++
      throw err
    }
  }

  /** Etsy appends its own health lines once connected, stamped then, describing the previous send. */
  private async *withHealth(payloads: readonly Payload[], stop: () => boolean): AsyncGenerator<readonly Buffer[]> {
    const now = Math.round(Date.now() / 1000)
    const health = this.encode(this.formatter.formatHealth(this.health, now))
    this.health.flushTime = 0
    this.health.lastFlush = now
    yield* chunksOf(payloads, stop)
    this.health.flushLength = payloads.reduce((n, p) => n + p.bytes, health.length)
    yield [health]
  }
}

export function createGraphiteBackend(
  cfg: GraphiteBackendConfig,
  naming: GraphiteServerNaming,
  startupTime: number,
  log: Logger,
): GraphiteBackend {
  const formatter =
    cfg.statsgodNamespace !== undefined
      ? new StatsgodFormatter(cfg.statsgodNamespace, naming.prefixStats)
      : new GraphiteFormatter({ ...cfg, ...naming })
  return new GraphiteBackend(cfg, startupTime, log, formatter)
}

/** The certificate must name `host` (SNI only for a name); the CA file is read once, at start-up. */
function tlsTarget(host: string, caFile: string | undefined): tls.ConnectionOptions {
  return { ...(isIP(host) === 0 && { servername: host }), ...(caFile !== undefined && { ca: readFileSync(caFile) }) }
}
