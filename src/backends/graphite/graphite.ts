import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type tls from 'node:tls'
import { type FlushData, type FlushHeader, type FlushWriter, writeWhole } from '../../aggregate/flush-data'
import type { GraphiteBackendConfig } from '../../config/schema'
import type { Logger } from '../../log'
import { StatsgodFormatter } from '../../naming/statsgod'
import type { Backend, BackendStats } from '../backend'
import { chunkPool } from '../byte-chunks'
import { type ChunkListener, type FlushLines, GraphiteFormatter, type GraphiteHealth, type GraphiteNaming } from '../graphite-format'
import { type GrowingPayload, itemsOf, Outbox, outboxOptions } from '../outbox'
import { PartRows } from '../../aggregate/part-rows'
import { BlockPool, Columns, endStep, type FlushStep, headerStep, partStep } from './flush-record'
import { pickleLines } from './pickle'
import { ResetAtDeadline, sendAndClose } from './send'

/** What the backend needs from a naming scheme; GraphiteFormatter (Etsy's names) is one. */
export interface GraphiteLineFormatter {
  begin(header: FlushHeader, onChunk?: ChunkListener): FlushLines
  formatHealth(health: GraphiteHealth, timestamp: number): string
}

export type GraphiteServerNaming = Omit<GraphiteNaming, keyof GraphiteBackendConfig>

const encodeText = (text: string): Buffer => Buffer.from(text, 'utf8')

/** A flush as the outbox holds it: the writer's calls, replayed into lines at each attempt (flush-record.ts). */
type FlushRecord = GrowingPayload<FlushStep>

/**
 * Connections open at once to one Graphite: each flush's first attempt
 * starts at its flush time, as in Etsy, so that a new flush never waits
 * behind a stuck one; past this bound it waits for one to end (at the
 * latest at its deadline, timeoutMs).
 */
export const GRAPHITE_CONNECTIONS = 4

/**
 * Writing a flush's lines gives the event loop a turn at least this often
 * (ms), as the flush loop's slices do: a socket that takes every write at
 * once completes it without one, and bench:flush's 200k timers held the
 * loop for 24-33 ms otherwise.
 */
const FORMAT_SLICE_MS = 5

/**
 * Graphite over TCP, plaintext or pickle, one connection per delivery as
 * Etsy does. Each flush is kept as it is computed, part by part, in compact
 * columns (flush-record.ts), in the backend's own outbox, which retries
 * what Graphite did not take and keeps at most its byte bound. Its first
 * attempt starts with the flush; each attempt writes the lines from the
 * record into a few Buffers as the socket takes them (sending overlaps
 * computing and formatting), and a retry writes the same lines again.
 */
export class GraphiteBackend implements Backend {
  readonly name: string
  private readonly outbox: Outbox<FlushRecord>
  private readonly health: GraphiteHealth
  private readonly encode: (text: string) => Buffer
  /** Attempts reset at their deadline after the receiver had acknowledged part of the flush: that part may arrive twice. */
  private resentInPart = 0
  /** Memory for the records' columns, reused from one flush to the next. */
  private readonly blocks = new BlockPool()
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
    const columns = new Columns(this.blocks)
    const record = this.outbox.open<FlushStep>(() => columns.release())
    // Never half a flush: if keeping a part fails, the flush is dropped (and counted).
    const orAbandon = (step: () => void): void => {
      try {
        step()
      } catch (err) {
        record.abandon()
        throw err
      }
    }
    orAbandon(() => record.append(...headerStep(header)))
    return {
      write: (part) => orAbandon(() => record.append(...partStep(part, columns))),
      end: async (trailer) => {
        orAbandon(() => record.append(...endStep(trailer, Date.now() - started)))
        record.end()
      },
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
    await this.outbox.close()
  }

  private async deliver(payloads: readonly FlushRecord[], signal: AbortSignal): Promise<void> {
    try {
      await sendAndClose(this.target, (stop) => this.withHealth(payloads, stop), signal)
    } catch (err) {
      this.health.lastException = Math.round(Date.now() / 1000)
      if (err instanceof ResetAtDeadline && err.bytesAcked > 0) this.resentInPart++
      throw err
    }
  }

  /** Etsy appends its own health lines once connected, stamped then, describing the previous send. */
  private async *withHealth(payloads: readonly FlushRecord[], stop: () => boolean): AsyncGenerator<readonly Buffer[]> {
    const now = Math.round(Date.now() / 1000)
    const health = this.encode(this.formatter.formatHealth(this.health, now))
    this.health.flushTime = 0
    this.health.lastFlush = now
    let bytes = health.length
    for (const payload of payloads) {
      for await (const run of this.lines(payload, stop)) {
        for (const chunk of run) bytes += chunk.length
        yield run
      }
    }
    this.health.flushLength = bytes
    yield [health]
  }

  /**
   * A flush's lines, written from its record as the parts come, a run of
   * Buffers at a time. sendAndClose asks for the next run only once our
   * kernel took the last one, so a flush holds only a part's worth of
   * Buffers, back in the pool once written.
   */
  private async *lines(record: FlushRecord, stop: () => boolean): AsyncGenerator<readonly Buffer[]> {
    let made: Buffer[] = []
    let lines: FlushLines | null = null
    const rows = new PartRows()
    let sliceStart = performance.now()
    for await (const steps of itemsOf([record], stop)) {
      for (const step of steps) {
        if (performance.now() - sliceStart >= FORMAT_SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve))
          sliceStart = performance.now()
          if (stop()) return
        }
        if (step.kind === 'header') lines = this.formatter.begin(step.header, (chunk) => made.push(chunk))
        else if (step.kind === 'part') lines!.write(step.part.toPart(rows))
        else lines!.end(step.trailer, step.calculationTime)
        if (made.length === 0) continue
        const run = made
        made = []
        if (this.cfg.protocol === 'pickle') {
          const frames = run.map((chunk) => pickleLines(chunk.toString()))
          chunkPool.give(run)
          yield frames
          continue
        }
        try {
          yield run
        } finally {
          // Written, or the attempt is over (its socket destroyed): nothing will read them again.
          chunkPool.give(run)
        }
      }
    }
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
