import { performance } from 'node:perf_hooks'
import { setImmediate as nextTurn, setTimeout as delay } from 'node:timers/promises'
import type { FlushWriter } from '../aggregate/flush-data'
import type { ShardTakes } from '../aggregate/shards/sharded-aggregator'
import type { Backend } from '../backends/backend'
import type { IngestCounters } from '../core/ingest-counters'
import { DatagramBatch } from '../parse/packets'
import type { Packet } from '../parse/packets'
import type { PacketQueue } from '../queue/queue'
import { gatherShards, type IntervalParts } from './gather-shards'
import { ingestSelfMetrics, inputLost } from './ingest-self-metrics'
import type { Logger } from '../log'

/** How long one drain turn may hold the event loop before letting sockets be read again. */
const DRAIN_SLICE_MS = 5
const PACKETS_BETWEEN_CLOCK_CHECKS = 64
/** How long computing and formatting a flush may hold the event loop before the queue and sockets get a turn. */
const FLUSH_SLICE_MS = 5

/** How long draining waits before looking again while the shards' hand-off is full. */
const FULL_RETRY_MS = 1

/** What the loop feeds and flushes: an Aggregator, or a ShardedAggregator (workers > 1). */
export interface AggregationSide {
  ingest(packet: Packet, source: number): void
  addBadLines(count: number): void
  takeInterval(nowMs: number, timerValues: boolean): IntervalParts | ShardTakes
  /** Hands what ingest routed over to the shards (after each drain slice). */
  handOff?(): void
  /** The shards' hand-off is full: draining waits (the queue's bounds then apply). */
  isFull?(): boolean
}

/** Whatever takes each flush: a backend, or the admin plane's record of them. */
export type FlushReceiver = Pick<Backend, 'name' | 'beginFlush' | 'wantsTimerValues'>

/**
 * The aggregator loop: drains the packet queue in short slices (so listeners
 * keep reading while a backlog is parsed) and flushes on a fixed schedule
 * aligned to the start time, as Etsy does to avoid drift. A flush takes the
 * interval at its instant, then computes and formats it in slices of at
 * most FLUSH_SLICE_MS, between which the queue keeps being drained into
 * the next interval. Flushes never overlap: one that comes due while the
 * previous is still running starts as soon as that one ends, late, and says
 * so in the log.
 */
export class AggregatorLoop {
  private drainScheduled = false
  private flushTimer: NodeJS.Timeout | null = null
  private nextFlushAt = 0
  private stopped = false
  /** The flush in progress (and those queued behind it by flush()). */
  private running: Promise<void> | null = null
  /** When a scheduled flush came due while another was running; 0 if none did. */
  private dueSince = 0
  /** While a flush parses its backlog, other drains wait, so later packets stay in the next interval. */
  private holdDrains = false

  constructor(
    private readonly queue: PacketQueue,
    private readonly aggregator: AggregationSide,
    /** The backends, and anything else that takes each flush (the admin plane's record of them). */
    private readonly backends: readonly FlushReceiver[],
    private readonly ingestCounters: IngestCounters,
    private readonly flushIntervalMs: number,
    private readonly log: Logger,
  ) {}

  start(startedAt: number): void {
    this.queue.onReadable = () => this.scheduleDrain()
    this.nextFlushAt = startedAt + this.flushIntervalMs
    this.armFlushTimer()
    if (this.queue.length > 0) this.scheduleDrain()
  }

  /** Waits for the flush in progress, then drains what is queued and flushes one last time, completely. */
  async stop(): Promise<void> {
    this.stopped = true
    this.queue.onReadable = null
    if (this.flushTimer !== null) clearTimeout(this.flushTimer)
    this.dueSince = 0
    await this.flush()
  }

  /**
   * Flushes now, or as soon as the flush in progress ends. Resolves once every
   * receiver has the flush (queued for delivery, not delivered).
   */
  flush(): Promise<void> {
    const run = (this.running ?? Promise.resolve())
      .then(() => this.runFlush())
      // Only a bug gets here: it costs this flush, never the daemon or the next flushes.
      .catch((err: unknown) => this.log.error({ err }, 'flush failed'))
    const tracked: Promise<void> = run.finally(() => {
      if (this.running !== tracked) return
      this.running = null
      if (this.dueSince > 0 && !this.stopped) void this.flush()
    })
    this.running = tracked
    return tracked
  }

  /** Parses everything queued, takes the interval, then computes it and hands it to every receiver in slices. */
  private async runFlush(): Promise<void> {
    if (this.dueSince > 0) {
      this.log.warn({ lateMs: Date.now() - this.dueSince }, 'flush started late: the previous flush ran longer than the flush interval')
      this.dueSince = 0
    }
    await this.drainBacklog()
    const drops = this.ingestCounters.takeSnapshot()
    this.aggregator.addBadLines(drops.oversizedLines)
    const selfMetrics = ingestSelfMetrics(drops)
    const nonZero = Object.fromEntries(selfMetrics.filter((m) => m.value > 0).map((m) => [m.name, m.value]))
    if (inputLost(drops)) {
      this.log.warn(nonZero, 'input lost during the last flush interval')
    } else if (drops.idleTimeouts > 0 || drops.connectionErrors > 0) {
      this.log.info(nonZero, 'stream clients dropped during the last flush interval')
    }
    const instant = this.aggregator.takeInterval(Date.now(), this.backends.some((b) => b.wantsTimerValues === true))
    if (this.queue.length > 0) this.scheduleDrain()
    // With shards, their parts come as they compute them.
    const taken = 'streams' in instant ? await gatherShards(instant) : instant
    const writers = new Map<FlushReceiver, FlushWriter>()
    for (const backend of this.backends) this.attempt(backend, writers, () => writers.set(backend, backend.beginFlush(taken.header)))
    let sliceStart = performance.now()
    for (;;) {
      let next = taken.nextPart()
      if (next instanceof Promise) next = await next
      if (next === null) break
      const part = next
      for (const [backend, writer] of writers) this.attempt(backend, writers, () => writer.write(part))
      if (performance.now() - sliceStart >= FLUSH_SLICE_MS) {
        await nextTurn()
        sliceStart = performance.now()
      }
    }
    const trailer = await taken.finish()
    trailer.selfMetrics.push(...selfMetrics)
    await Promise.all(
      [...writers].map(([backend, writer]) =>
        writer.end(trailer).catch((err: unknown) => this.log.error({ backend: backend.name, err }, 'backend flush failed')),
      ),
    )
  }

  /** One step of a receiver's flush: one that throws is logged and left out of the rest of this flush. */
  private attempt(backend: FlushReceiver, writers: Map<FlushReceiver, unknown>, step: () => void): void {
    try {
      step()
    } catch (err) {
      writers.delete(backend)
      this.log.error({ backend: backend.name, err }, 'backend flush failed')
    }
  }

  /**
   * Parses every packet queued before this instant, in slices: a backlog of
   * a full queue takes seconds, and sockets must keep being read meanwhile.
   */
  private async drainBacklog(): Promise<void> {
    let left = this.queue.length
    this.holdDrains = true
    try {
      for (;;) {
        left -= this.drain(DRAIN_SLICE_MS, left)
        if (left === 0 || this.queue.length === 0) return
        if (this.aggregator.isFull?.() === true) await delay(FULL_RETRY_MS)
        else await nextTurn()
      }
    } finally {
      this.holdDrains = false
    }
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.stopped || this.holdDrains) return
    this.drainScheduled = true
    const run = (): void => {
      this.drainScheduled = false
      if (this.holdDrains) return
      this.drain(DRAIN_SLICE_MS)
      if (this.queue.length > 0) this.scheduleDrain()
    }
    if (this.aggregator.isFull?.() === true) setTimeout(run, FULL_RETRY_MS)
    else setImmediate(run)
  }

  /** Parses queued packets for up to budgetMs, and at most `limit` of them; returns how many. */
  private drain(budgetMs: number, limit = Infinity): number {
    const deadline = Date.now() + budgetMs
    let taken = 0
    if (this.aggregator.isFull?.() === true) return 0
    for (let packet = this.queue.shift(); packet !== undefined; packet = this.queue.shift()) {
      taken++
      try {
        this.aggregator.ingest(packet, this.queue.shiftedSource)
      } catch (err) {
        // The parser is built not to throw; if it ever does, lose one packet, not the daemon.
        this.log.error({ err, bytes: packet.length }, 'packet could not be processed')
      }
      if (packet instanceof DatagramBatch) packet.done()
      if (taken >= limit) break
      if (taken % PACKETS_BETWEEN_CLOCK_CHECKS === 0 && (Date.now() >= deadline || this.aggregator.isFull?.() === true)) break
    }
    this.aggregator.handOff?.()
    return taken
  }

  private armFlushTimer(): void {
    const now = Date.now()
    // After a stall (suspended VM, huge backlog) skip missed slots instead of flushing in a burst.
    while (this.nextFlushAt <= now) this.nextFlushAt += this.flushIntervalMs
    this.flushTimer = setTimeout(() => {
      if (this.running === null) void this.flush()
      else this.dueSince ||= Date.now()
      // This slot is done even when the wall clock says it is not quite due:
      // a timer can fire a few ms early by Date.now() (Node schedules it by
      // the loop's cached time), and re-arming for "the rest" of this slot
      // flushed a second time a few ms later, splitting an interval in two.
      this.nextFlushAt += this.flushIntervalMs
      if (!this.stopped) this.armFlushTimer()
    }, this.nextFlushAt - now)
  }
}
