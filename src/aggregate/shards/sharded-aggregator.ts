import path from 'node:path'
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads'
import type { Config } from '../../config/schema'
import type { AggregatorFigures, MetricStore, MetricTables, MetricType } from '../../core/server-control'
import type { Logger } from '../../log'
import { refixYoungGeneration } from '../../core/heap-policy'
import { workerResourceLimits } from '../../core/young-generation'
import { DatagramBatch, type Packet } from '../../parse/packets'
import type { AggregatorConfig, ReloadableAggregatorConfig } from '../aggregator'
import type { FlushHeader, FlushTrailer, SelfMetric } from '../flush-data'
import { BUSIEST_KEYS, RECENT_BAD_LINES } from '../inspection'
import type { FromShard, Question, ShardWorkerData, ToShard, WirePart } from './protocol'
import { JsRouter, type Router, ShardBatch } from './route'
import { NativeRouter, nativeRouting } from './route-native'
import { ShardRing } from './ring'
import { partTaken } from './parts-ahead'
import { ReloadInEffect } from './reload-in-effect'
import { IntervalEpochs } from './epoch'
import { createLanes, type Lane, type LaneSpec, laneBytes, laneSpec, linesPublished } from './lanes'

/*
 * Aggregation on N worker threads (config `workers` > 1). With the addon,
 * datagrams never reach the main thread: each reader thread routes their
 * lines straight into the shards' lanes (lanes.ts, openLanes). Otherwise,
 * and for stream packets, the main thread
 * splits each packet into lines and copies every line into the batch of the
 * shard its metric's name hashes to (route.ts, in the addon route-native.ts),
 * written straight into that shard's shared ring (ring.ts); the batches are
 * handed over with a small message every HAND_OFF_MS. Each shard is an
 * Aggregator holding only its own keys, so a flush is every shard's parts
 * side by side (src/flush/gather-shards.ts), with nothing to merge but the
 * internal counters every shard keeps.
 *
 * A take is one instant for every shard: the reader threads stamp what they
 * route with the interval in progress, moved on at each take (epoch.ts).
 *
 * The hand-off is bounded: past maxPendingBytes not yet ingested by a shard,
 * `isFull()` tells the aggregator loop to stop draining the packet queue, whose
 * own bounds then drop datagrams (counted in queue.dropped_packets) and pause
 * stream clients. The datagram reader threads never wait.
 *
 * The admin plane's questions (tables, inspect, deleteMatching, listener
 * totals) are asked of every shard and answered synchronously (Atomics.wait
 * on a shared flag, the answer read with receiveMessageOnPort), after the
 * lines handed over before them: the admin API stays synchronous, and the
 * main thread waits at most as long as a shard's current slice.
 */

const WORKER_FILE = path.join(__dirname, 'shard-worker.js')
/** A shard's batch is handed over mid-slice once it holds this many bytes... */
const HAND_OFF_BYTES = 512 * 1024
/**
 * ...and otherwise at most this long after the first line waiting in it:
 * a message to a thread costs it a wake-up, so a few hundred a second
 * rather than one per drain slice. A take and an admin question hand
 * everything over first, so nothing waits past a flush.
 */
const HAND_OFF_MS = 20
/** Each shard's hand-off ring (shared memory; RSS once traffic has gone round it). */
const RING_BYTES = 4 * 1024 * 1024
/** A shard that does not answer within this long is left out of the answer (and logged). */
const ASK_TIMEOUT_MS = 10_000

const NO_EVENTS = { received: 0, rateLimited: 0, recent: [] }
const NO_FIGURES: AggregatorFigures = {
  packets: 0,
  lines: 0,
  bytes: 0,
  badLines: 0,
  badLinesByReason: {},
  recentBadLines: [],
  keys: { counters: 0, timers: 0, gauges: 0, sets: 0 },
  busiestKeys: [],
  lastFlushMs: 0,
  events: NO_EVENTS,
  serviceChecks: NO_EVENTS,
}

/** What every shard keeps a copy of (protocol.ts, SharedNames). */
function sharedNames(prefix: string): { summedCounters: string[]; firstShardGauges: string[] } {
  return {
    summedCounters: ['bad_lines_seen', 'packets_received', 'metrics_received'].map((n) => `${prefix}.${n}`),
    firstShardGauges: [`${prefix}.timestamp_lag`],
  }
}

export interface ShardedAggregatorOptions {
  workers: number
  config: AggregatorConfig & Pick<Config, 'prefixStats'>
  logConfig: Config['log']
  log: Logger
  /** Bytes handed to one shard and not yet ingested before draining pauses. */
  maxPendingBytes: number
  /** Called once, when a shard's thread fails (see README: the server flushes the others and exits). */
  onFailure: (err: Error) => void
  /** The packet queue's bound in bytes: each reader's lanes share it out (lanes.ts). */
  queueBytes: number
}

/** What one shard sends back for one take: the header, its parts as they come, the trailer. */
export class ShardStream {
  header: FlushHeader | null = null
  readonly parts: WirePart[] = []
  trailer: FlushTrailer | null = null
  /** This shard's values of the summed counters (SharedNames), with the trailer. */
  sums: Record<string, number> = {}
  /** The trailer came, or the shard died. */
  ended = false
  /** Called on every change. */
  onChange: (() => void) | null = null

  constructor(
    readonly shard: number,
    /** Lines handed to the shard in the interval this take ends (lost if the shard dies before the trailer). */
    readonly lines: number,
    /** Its parts posted and not yet taken, per shard (parts-ahead.ts). */
    private readonly partsAhead: Int32Array | null = null,
  ) {}

  /** The oldest part not yet taken, if any; the shard may then post another. */
  takePart(): WirePart | undefined {
    const part = this.parts.shift()
    if (part !== undefined && this.partsAhead !== null) partTaken(this.partsAhead, this.shard)
    return part
  }

  receive(message: Exclude<FromShard, { t: 'ready' }>): void {
    if (message.t === 'header') this.header = message.header
    else if (message.t === 'part') this.parts.push(message.part)
    else {
      this.trailer = message.trailer
      this.sums = message.sums
      this.ended = true
    }
    this.onChange?.()
  }

  end(): void {
    this.ended = true
    this.onChange?.()
  }
}

/** One flush instant's takes from every live shard, for src/flush/gather-shards.ts. */
export interface ShardTakes {
  streams: ShardStream[]
  /** The internal counters, which every shard keeps: the gatherer sums them (ShardStream.sums). */
  summedCounters: readonly string[]
  flushIntervalMs: number
  /** The sharding's own figures for this interval (lines lost with a failed shard). */
  selfMetrics: SelfMetric[]
}

interface Shard {
  readonly index: number
  readonly worker: Worker
  readonly syncPort: MessagePort
  readonly ring: ShardRing
  alive: boolean
  /** Lines handed over since the last take. */
  lines: number
  /** Takes whose trailer has not come yet, oldest first. */
  readonly streams: ShardStream[]
  /** Its doorbell (lanes.ts), -1 if its thread has no addon. */
  doorbell: number
  /** The reader threads' lanes to it, and the lines published into them at the last count. */
  readonly lanes: Lane[]
  lanesLines: number
}

export class ShardedAggregator implements MetricStore {
  private readonly batches: ShardBatch[]
  private readonly router: Router
  /** Carries each datagram's sender (originTags); the native router does not. */
  private readonly originRouter: JsRouter
  private readonly pending: Int32Array
  private readonly answered: Int32Array
  private readonly partsAhead: Int32Array
  private closing = false
  private failed = false
  private lostLines = 0
  private takes = 0
  private handOffTimer: NodeJS.Timeout | null = null
  private tokens: Readonly<Record<string, boolean>>
  private readonly reloads: ReloadInEffect
  /** The flush boundary the reader threads stamp lane records with (epoch.ts). */
  private readonly epochs = new IntervalEpochs()

  private constructor(
    private readonly shards: Shard[],
    pending: SharedArrayBuffer,
    answered: SharedArrayBuffer,
    partsAhead: SharedArrayBuffer,
    private readonly opts: ShardedAggregatorOptions,
  ) {
    this.pending = new Int32Array(pending)
    this.answered = new Int32Array(answered)
    this.partsAhead = new Int32Array(partsAhead)
    this.batches = shards.map(
      (shard, i) =>
        new ShardBatch(
          (min) => shard.ring.region(min),
          () => this.handOffTo(i),
        ),
    )
    const tokenSources = opts.config.listeners.map((l) => l.auth === 'token')
    const native = nativeRouting()
    this.router =
      'addon' in native
        ? new NativeRouter(native.addon, this.batches, tokenSources)
        : new JsRouter(this.batches, tokenSources)
    this.originRouter = new JsRouter(this.batches, tokenSources)
    this.tokens = opts.config.auth.tokens
    this.reloads = new ReloadInEffect(opts.log)
    for (const shard of shards) {
      shard.worker.on('message', (message: FromShard) => {
        if (message.t === 'header' && message.reloaded !== undefined) {
          this.reloads.applied(shard.index, message.reloaded.generation, message.reloaded.settings)
        }
        const stream = shard.streams[0]
        if (stream === undefined || message.t === 'ready') return
        if (message.t === 'done') shard.streams.shift()
        stream.receive(message)
      })
      shard.worker.on('error', (err) => this.fail(shard, err))
      shard.worker.on('exit', (code) => this.fail(shard, new Error(`shard ${shard.index}: its thread exited (code ${code})`)))
    }
  }

  /** Starts the workers; resolves once every one has built its Aggregator. */
  static async start(opts: ShardedAggregatorOptions): Promise<ShardedAggregator> {
    const pending = new SharedArrayBuffer(4 * opts.workers)
    const answered = new SharedArrayBuffer(4 * opts.workers)
    const partsAhead = new SharedArrayBuffer(4 * opts.workers)
    const ringUsed = new SharedArrayBuffer(4 * opts.workers)
    const shards: Shard[] = []
    for (let index = 0; index < opts.workers; index++) {
      const { port1, port2 } = new MessageChannel()
      const ring = new ShardRing(RING_BYTES, new Int32Array(ringUsed), index)
      const workerData: ShardWorkerData = {
        shard: index,
        config: opts.config,
        log: opts.logConfig,
        pending,
        ringUsed,
        ring: ring.sab,
        answered,
        partsAhead,
        syncPort: port2,
        ...sharedNames(opts.config.prefixStats),
      }
      const worker = new Worker(WORKER_FILE, {
        workerData,
        transferList: [port2],
        name: `statsd shard ${index}`,
        resourceLimits: workerResourceLimits(),
      })
      shards.push({ index, worker, syncPort: port1, ring, alive: true, lines: 0, streams: [], doorbell: -1, lanes: [], lanesLines: 0 })
    }
    try {
      const doorbells = await Promise.all(
        shards.map(
          (s) =>
            new Promise<number>((resolve, reject) => {
              // Not 'online' (its code starts running): a shard still loading its modules made the first flush late.
              s.worker.once('message', (ready: Extract<FromShard, { t: 'ready' }>) => resolve(ready.doorbell))
              s.worker.once('error', reject)
            }),
        ),
      )
      doorbells.forEach((doorbell, i) => (shards[i]!.doorbell = doorbell))
      // Each isolate created undid it for every thread (heap-policy.ts).
      refixYoungGeneration()
    } catch (err) {
      await Promise.all(shards.map((s) => s.worker.terminate()))
      throw err
    }
    return new ShardedAggregator(shards, pending, answered, partsAhead, opts)
  }

  /** Which router splits lines (for the start-up log). */
  get routerName(): string {
    return this.router.name
  }

  get workers(): number {
    return this.shards.length
  }

  // ---- the datagram readers' side ----

  /**
   * Lanes for the reader thread of listener `source` to route its datagrams
   * into, one per shard, or null when the main thread must route them (a
   * shard without the addon, or the JavaScript router).
   */
  openLanes(source: number): LaneSpec | null {
    if (this.router.name !== 'native' || this.shards.some((s) => s.doorbell < 0)) return null
    const lanes = createLanes(this.shards.length, laneBytes(this.opts.queueBytes, this.shards.length))
    this.shards.forEach((shard, i) => {
      shard.lanes.push(lanes[i]!)
      this.post(shard, { t: 'lane', lane: lanes[i]! })
    })
    const token = this.opts.config.listeners[source]?.auth === 'token'
    return laneSpec(lanes, source, token, this.shards.map((s) => s.doorbell), { interval: this.epochs.interval, batch: this.epochs.readerWord() })
  }

  // ---- the aggregator loop's side ----

  ingest(packet: Packet, source = 0): void {
    // Datagrams with their senders' pids and uids (originTags, opt-in) take the JavaScript router, which carries them.
    if (packet instanceof DatagramBatch) (packet.origins === null ? this.router : this.originRouter).routeBatch(packet, source)
    else this.router.route(packet, 0, packet.length, source)
    for (let i = 0; i < this.batches.length; i++) if (this.batches[i]!.length >= HAND_OFF_BYTES) this.handOffTo(i)
  }

  /** After a drain slice: the lines routed so far are handed over within HAND_OFF_MS. */
  handOff(): void {
    if (this.handOffTimer !== null || this.batches.every((b) => b.empty)) return
    this.handOffTimer = setTimeout(() => this.handOffAll(), HAND_OFF_MS)
  }

  /** Hands every shard the lines routed to it so far, now. */
  private handOffAll(): void {
    if (this.handOffTimer !== null) clearTimeout(this.handOffTimer)
    this.handOffTimer = null
    for (let i = 0; i < this.batches.length; i++) if (!this.batches[i]!.empty) this.handOffTo(i)
  }

  /** Some shard has more than its bound waiting: draining should pause. */
  isFull(): boolean {
    for (const shard of this.shards) if (shard.alive && Atomics.load(this.pending, shard.index) > this.opts.maxPendingBytes) return true
    return false
  }

  addBadLines(count: number): void {
    if (count > 0) this.post(this.firstLive(), { t: 'badLines', count })
  }

  /** Asks every live shard to take its interval at this instant; the lines handed over before are in it. */
  takeInterval(nowMs: number, timerValues = false): ShardTakes {
    this.handOffAll()
    this.takes++
    // Every datagram the reader threads routed before this instant is in this interval, whole; the rest in the next.
    const epoch = this.epochs.advance()
    const streams: ShardStream[] = []
    for (const shard of this.shards) {
      if (!shard.alive) continue
      this.countLaneLines(shard)
      const stream = new ShardStream(shard.index, shard.lines, this.partsAhead)
      shard.lines = 0
      shard.streams.push(stream)
      this.post(shard, { t: 'take', nowMs, timerValues, epoch })
      streams.push(stream)
    }
    const selfMetrics = [{ name: 'shards.lost_lines', value: this.lostLines }]
    this.lostLines = 0
    return {
      streams,
      summedCounters: sharedNames(this.opts.config.prefixStats).summedCounters,
      flushIntervalMs: this.opts.config.flushInterval,
      selfMetrics,
    }
  }

  // ---- what Aggregator offers besides ----

  describeListeners(descriptions: readonly string[]): void {
    this.broadcast({ t: 'describe', descriptions: [...descriptions] })
  }

  /** In effect at each shard's next take; logged once every shard has it (reload-in-effect.ts). */
  reconfigure(config: ReloadableAggregatorConfig): void {
    this.tokens = config.auth.tokens
    const generation = this.reloads.begin(this.shards.filter((s) => s.alive).map((s) => s.index))
    this.broadcast({ t: 'reconfigure', config, generation })
  }

  get validTokens(): number {
    return Object.values(this.tokens).filter((valid) => valid).length
  }

  /** Stops every thread (after the final flush). */
  async close(): Promise<void> {
    this.closing = true
    if (this.handOffTimer !== null) clearTimeout(this.handOffTimer)
    await Promise.all(this.shards.map((s) => s.worker.terminate()))
  }

  // ---- MetricStore: every shard's answer, put together ----

  tables(): MetricTables {
    const out: MetricTables = { counters: new Map(), timers: new Map(), gauges: new Map(), sets: new Map() }
    for (const t of this.ask<MetricTables>({ what: 'tables' })) {
      // Only the internal counters are in every shard: their values add up.
      for (const [name, value] of t.counters) out.counters.set(name, (out.counters.get(name) ?? 0) + value)
      for (const [name, values] of t.timers) out.timers.set(name, values)
      for (const [name, value] of t.gauges) if (!out.gauges.has(name)) out.gauges.set(name, value)
      for (const [name, members] of t.sets) out.sets.set(name, members)
    }
    return out
  }

  deleteMatching(type: MetricType, pattern: string): string[] {
    return [...new Set(this.ask<string[]>({ what: 'deleteMatching', type, pattern }).flat())]
  }

  listenerTotals(): { packets: number; bytes: number; lines: number; authFailures: number }[] {
    const out = this.opts.config.listeners.map(() => ({ packets: 0, bytes: 0, lines: 0, authFailures: 0 }))
    for (const totals of this.ask<typeof out>({ what: 'listenerTotals' })) {
      totals.forEach((t, i) => {
        const sum = out[i]!
        sum.packets += t.packets
        sum.bytes += t.bytes
        sum.lines += t.lines
        sum.authFailures += t.authFailures
      })
    }
    return out
  }

  inspect(): AggregatorFigures {
    const all = this.ask<AggregatorFigures>({ what: 'inspect' })
    const first = all[0]
    // Every shard failed (the server is stopping): nothing left to show.
    if (first === undefined) return NO_FIGURES
    const sum = (pick: (f: AggregatorFigures) => number): number => all.reduce((n, f) => n + pick(f), 0)
    const byReason: Record<string, number> = {}
    for (const f of all) for (const [reason, n] of Object.entries(f.badLinesByReason)) byReason[reason] = (byReason[reason] ?? 0) + n
    // Every shard keeps the internal counters, and timestamp_lag once it has flushed twice.
    const copies = all.length - 1
    return {
      packets: sum((f) => f.packets),
      lines: sum((f) => f.lines),
      bytes: sum((f) => f.bytes),
      badLines: sum((f) => f.badLines),
      badLinesByReason: byReason,
      recentBadLines: all
        .flatMap((f) => f.recentBadLines)
        .sort((a, b) => a.at - b.at)
        .slice(-RECENT_BAD_LINES),
      keys: {
        counters: sum((f) => f.keys.counters) - 3 * copies,
        timers: sum((f) => f.keys.timers),
        gauges: sum((f) => f.keys.gauges) - (this.takes >= 2 ? copies : 0),
        sets: sum((f) => f.keys.sets),
      },
      busiestKeys: all
        .flatMap((f) => f.busiestKeys)
        .sort((a, b) => b.values - a.values)
        .slice(0, BUSIEST_KEYS),
      lastFlushMs: Math.max(...all.map((f) => f.lastFlushMs)),
      // Events and service checks all go to shard 0 (route.ts).
      events: first.events,
      serviceChecks: first.serviceChecks,
    }
  }

  // ---- below ----

  /** Adds the lines the readers published to the shard's lanes since the last count to its lines. */
  private countLaneLines(shard: Shard): void {
    const published = shard.lanes.reduce((n, lane) => n + linesPublished(lane), 0)
    // Int32 counters wrap: the difference modulo 2^32 is right for fewer than 2^31 lines between counts.
    shard.lines += (published - shard.lanesLines) | 0
    shard.lanesLines = published
  }

  private handOffTo(index: number): void {
    const shard = this.shards[index]!
    const { region, length, lines, segments } = this.batches[index]!.take()
    if (!shard.alive) {
      this.lostLines += lines
      return
    }
    Atomics.add(this.pending, index, length)
    shard.lines += lines
    if (region.shared) {
      shard.ring.commit(region, length)
      this.post(shard, { t: 'lines', start: region.start, length, skip: region.skip, segments, buffer: null })
    } else {
      const buffer = region.bytes.buffer as ArrayBuffer
      this.post(shard, { t: 'lines', start: 0, length, skip: 0, segments, buffer }, [buffer])
    }
  }

  /** Synchronous: every live shard's answer (see the class comment). */
  private ask<T>(question: Question): T[] {
    this.handOffAll()
    const asked = this.shards.filter((s) => s.alive)
    for (const shard of asked) {
      Atomics.store(this.answered, shard.index, 0)
      this.post(shard, { t: 'ask', question })
    }
    const answers: T[] = []
    for (const shard of asked) {
      Atomics.wait(this.answered, shard.index, 0, ASK_TIMEOUT_MS)
      const reply = receiveMessageOnPort(shard.syncPort)
      if (reply === undefined) this.opts.log.error({ shard: shard.index, question: question.what }, 'a shard did not answer: its figures are left out')
      else answers.push(reply.message as T)
    }
    return answers
  }

  private broadcast(message: ToShard): void {
    for (const shard of this.shards) if (shard.alive) this.post(shard, message)
  }

  private post(shard: Shard | undefined, message: ToShard, transfer: ArrayBuffer[] = []): void {
    if (shard?.alive === true) shard.worker.postMessage(message, transfer)
  }

  private firstLive(): Shard | undefined {
    return this.shards.find((s) => s.alive)
  }

  /** A shard's thread died: its interval is lost (counted), the rest goes on until the server stops. */
  private fail(shard: Shard, err: Error): void {
    if (!shard.alive || this.closing) return
    shard.alive = false
    this.countLaneLines(shard)
    let lost = shard.lines
    for (const stream of shard.streams.splice(0)) {
      if (!stream.ended) lost += stream.lines
      stream.end()
    }
    shard.lines = 0
    this.lostLines += lost
    this.reloads.gone(shard.index)
    this.opts.log.fatal({ shard: shard.index, err, lostLines: lost }, 'an aggregation thread failed: the lines it held are lost')
    if (!this.failed) {
      this.failed = true
      this.opts.onFailure(err)
    }
  }
}
