import { setTimeout as sleep } from 'node:timers/promises'
import { attribute, type TransportRow } from './attribution'
import { type FlushArrival, GraphiteReceiver } from './graphite-receiver'
import { Ledger } from './ledger'
import type { Options } from './options'
import { kernelUdpDrops, ProcProbe } from './proc-probe'
import { openSender, type Sender } from './senders'
import type { ServerUnderTest } from './server-under-test'
import { KeyGroup, MALFORMED, type Transport, TRANSPORTS } from './workload'

/*
 * The run: phases of sending at a set rate (one per lines-per-packet value;
 * in --ramp, one per step), each followed by a settle time in which the
 * harness waits for the flushes that carry the last lines, then checks the
 * phase's keys. Samples are taken every second for the progress line and the
 * report.
 */

/** One packet in this many carries a malformed line in --chaos. */
const MALFORMED_EVERY = 20
/** A Graphite outage in --chaos lasts this long. */
const OUTAGE_MS = 3000
const TICK_MS = 5

export interface Sample {
  /** ms since the run started */
  t: number
  phase: string
  /** lines per second over the last second */
  sendRate: number
  /** over the last two flushes received: values arrive one flush at a time */
  receiveRate: number
  /** lines sent more than two flush intervals ago and still not seen */
  lost: number
  /** lines the server reported dropping, so far */
  reported: number
  rss: number | null
  cpu: number | null
}

export interface FlushLag {
  /** ms since the run started */
  t: number
  /** the flush's number in the server's schedule */
  flush: number
  lagMs: number
}

export interface PhaseResult {
  id: string
  linesPerPacket: number
  targetRate: number
  achievedRate: number
  sendMs: number
  rows: TransportRow[]
  malformedSent: number
  badLines: number
  drops: Map<string, number>
  kernelDrops: number | null
  /** nothing lost (reported or not), extra or wrong, and the rate was reached */
  clean: boolean
}

export interface RunResult {
  phases: PhaseResult[]
  samples: Sample[]
  lags: FlushLag[]
  ledger: Ledger
  receiver: GraphiteReceiver
  outages: number
  transports: Transport[]
  startedAt: number
  /** ramp: highest clean rate per lines-per-packet value */
  sustained: Map<number, number | null>
  /** the harness's own send failures (refused, reset) per transport: those lines are not expected */
  sendErrors: Map<Transport, number>
  harnessErrors: string[]
}

export class SoakRun {
  readonly ledger: Ledger
  readonly receiver: GraphiteReceiver
  private readonly samples: Sample[] = []
  private readonly lags: FlushLag[] = []
  private readonly flushes: FlushArrival[] = []
  private senders = new Map<Transport, Sender>()
  private probe = new ProcProbe(undefined)
  private readonly startedAt = Date.now()
  private flushEpoch: number | undefined
  private sentLines = 0
  /** Lines received by the end of each flush: the receive rate is measured between flushes. */
  private readonly flushMarks: { t: number; received: number }[] = []
  /** Totals at each sample, newest last. */
  private readonly history: { t: number; sent: number }[] = []
  private phaseLabel = ''
  private outages = 0
  private readonly harnessErrors: string[] = []
  private server: ServerUnderTest | null = null

  constructor(
    private readonly options: Options,
    private readonly progress: (sample: Sample, text: string) => void,
  ) {
    this.ledger = new Ledger(options.prefixStats)
    this.receiver = new GraphiteReceiver(
      (name, value, ts) => this.ledger.line(name, value, ts),
      `${options.prefixStats}.numStats`,
      (flush) => this.onFlush(flush),
    )
  }

  private onFlush(flush: FlushArrival): void {
    this.flushes.push(flush)
    this.flushMarks.push({ t: flush.arrivedAt, received: this.receivedTotal() })
    const interval = this.server?.flushIntervalMs ?? this.options.flushIntervalMs
    // Flush k is due at epoch + k * interval; its Graphite timestamp is that time, rounded to the second.
    this.flushEpoch ??= this.server?.startedAt ?? flush.arrivedAt
    const k = Math.round((flush.timestamp * 1000 - this.flushEpoch) / interval)
    this.lags.push({ t: flush.arrivedAt - this.startedAt, flush: k, lagMs: Math.max(0, flush.arrivedAt - (this.flushEpoch + k * interval)) })
  }

  async run(server: ServerUnderTest): Promise<RunResult> {
    this.server = server
    this.probe = new ProcProbe(server.pid)
    const available = TRANSPORTS.filter((t) => (t === 'udp' ? server.target.udp : t === 'unix' ? server.target.unix : server.target.tcp) !== undefined)
    const transports = this.options.transports ?? available
    for (const t of transports) this.senders.set(t, await openSender(t, server.target))
    const sampler = setInterval(() => this.sample(), 1000)
    void server.died.then((reason) => this.harnessErrors.push(reason))
    const phases: PhaseResult[] = []
    const sustained = new Map<number, number | null>()
    try {
      this.sample()
      const budget = this.options.durationMs / this.options.linesPerPacket.length
      for (const P of this.options.linesPerPacket) {
        if (this.options.ramp) sustained.set(P, await this.ramp(P, budget, phases))
        else phases.push(await this.phase(`p${P}`, P, this.options.rate, budget))
        if (this.harnessErrors.length > 0) break
      }
    } finally {
      clearInterval(sampler)
      for (const sender of this.senders.values()) await sender.close()
    }
    this.ledger.closed = true
    return {
      phases,
      samples: this.samples,
      lags: this.lags,
      ledger: this.ledger,
      receiver: this.receiver,
      outages: this.outages,
      transports,
      startedAt: this.startedAt,
      sustained,
      sendErrors: new Map([...this.senders].map(([t, sender]) => [t, sender.errors])),
      harnessErrors: this.harnessErrors,
    }
  }

  /**
   * Doubles the rate while a step is clean, then narrows down between the best
   * clean and the first unclean rate. The rest of the budget holds the best
   * rate found, to show that it is sustained (a hold that loses something
   * lowers the rate by a fifth and holds again; the last clean hold is the
   * sustained rate).
   */
  private async ramp(P: number, budgetMs: number, phases: PhaseResult[]): Promise<number | null> {
    const until = Date.now() + budgetMs
    const interval = this.server?.flushIntervalMs ?? this.options.flushIntervalMs
    const settleMs = 3 * interval + 2000
    let good: number | null = null
    let bad: number | null = null
    let rate = this.options.rate
    let step = 0
    for (; Date.now() + this.options.stepMs + settleMs < until && this.harnessErrors.length === 0; step++) {
      const result = await this.phase(`p${P}s${step}`, P, rate, this.options.stepMs)
      phases.push(result)
      if (result.clean) good = Math.max(good ?? 0, rate)
      else bad = Math.min(bad ?? Infinity, rate)
      if (bad === null) rate *= 2
      else if (good === null) rate = bad / 4
      else if (bad / good < 1.1) break
      else rate = Math.round(Math.sqrt(good * bad))
    }
    let sustained = good
    while (good !== null && until - Date.now() > this.options.stepMs + settleMs && this.harnessErrors.length === 0) {
      // Half of what is left, so that a hold that loses something leaves time to hold a lower rate.
      const left = until - Date.now() - settleMs
      const holdMs = left < 4 * (this.options.stepMs + settleMs) ? left : left / 2
      const hold = await this.phase(`p${P}hold${step++}`, P, good, holdMs)
      phases.push(hold)
      sustained = hold.clean ? good : null
      if (!hold.clean) good = Math.round(good * 0.8)
    }
    return sustained
  }

  private async phase(id: string, P: number, rate: number, sendMs: number): Promise<PhaseResult> {
    this.phaseLabel = id
    const transports = [...this.senders.keys()]
    const keysEach = Math.max(KINDS_MIN, Math.floor(this.options.keys / transports.length))
    const groups = new Map<Transport, KeyGroup>()
    transports.forEach((t, i) => {
      const group = new KeyGroup(id, t, keysEach, this.options.seed * 1000 + i, this.options.token)
      groups.set(t, group)
      this.ledger.add(group)
    })
    const before = this.serverFigures()
    const wrongBefore = { ...this.ledger.wrongValues }
    const { malformedSent, achievedRate } = await this.drive(groups, rate, P, sendMs)
    await this.settle([...groups.values()])
    const after = this.serverFigures()
    const drops = new Map<string, number>()
    for (const [name, value] of after.drops) drops.set(name, value - (before.drops.get(name) ?? 0))
    const badLines = after.badLines - before.badLines
    const kernelDrops = after.kernel === null || before.kernel === null ? null : after.kernel - before.kernel
    const wrong = Object.fromEntries(TRANSPORTS.map((t) => [t, this.ledger.wrongValues[t] - wrongBefore[t]])) as Record<Transport, number>
    const rows = attribute(
      [...groups.values()].map((g) => this.ledger.resultOf(g)),
      wrong,
      { drops, badLinesBeyondMalformed: Math.max(0, badLines - malformedSent), kernelDrops },
      P,
    )
    if (this.options.ramp) for (const g of groups.values()) this.ledger.drop(g)
    const clean = rows.every((r) => r.lost === 0 && r.extra === 0 && r.wrong === 0) && achievedRate >= rate * 0.95 && badLines === malformedSent
    return { id, linesPerPacket: P, targetRate: rate, achievedRate, sendMs, rows, malformedSent, badLines, drops, kernelDrops, clean }
  }

  private serverFigures(): { drops: Map<string, number>; badLines: number; kernel: number | null } {
    const port = this.server?.target.udp?.port
    return {
      drops: new Map(this.ledger.server.drops),
      badLines: this.ledger.server.badLines,
      kernel: port === undefined ? null : kernelUdpDrops(port),
    }
  }

  /** Sends at `rate` lines/s for `sendMs`, sharing the rate over the transports. */
  private async drive(groups: Map<Transport, KeyGroup>, rate: number, P: number, sendMs: number): Promise<{ malformedSent: number; achievedRate: number }> {
    const transports = [...groups.keys()]
    const shares = new Map<Transport, number>()
    const shortCap = this.options.shortConnsPerSec * P
    const shortShare = transports.includes('tcp-short') ? Math.min(rate / transports.length, shortCap) : 0
    for (const t of transports) shares.set(t, t === 'tcp-short' ? shortShare : (rate - shortShare) / (transports.length - (shortShare > 0 ? 1 : 0)))
    const generated = new Map(transports.map((t) => [t, 0]))
    let packets = 0
    let malformedSent = 0
    let committed = 0
    const start = Date.now()
    const chaos = this.options.chaos ? setInterval(() => void this.outage(), this.options.chaosEveryMs) : null
    const prefix = this.options.token !== undefined ? this.options.token + '.' : ''
    try {
      for (;;) {
        const elapsed = Date.now() - start
        if (elapsed >= sendMs || this.harnessErrors.length > 0) break
        for (const t of transports) {
          const sender = this.senders.get(t)!
          const group = groups.get(t)!
          let due = Math.floor((shares.get(t)! * elapsed) / 1000) - generated.get(t)!
          while (due >= P && !sender.busy()) {
            const { text, commit } = group.lines(P)
            generated.set(t, generated.get(t)! + P)
            due -= P
            const malformed = this.options.chaos && ++packets % MALFORMED_EVERY === 0
            if (malformed) text.splice(text.length >> 1, 0, prefix + MALFORMED[packets % MALFORMED.length])
            sender.send(text.join('\n'), (taken) => {
              if (!taken) return
              commit()
              committed += P
              this.sentLines += P
              if (malformed) malformedSent++
            })
          }
        }
        await sleep(TICK_MS)
      }
    } finally {
      if (chaos !== null) clearInterval(chaos)
    }
    // Let the last datagrams' callbacks and short connections complete.
    for (let i = 0; i < 200 && [...this.senders.values()].some((s) => s.busy()); i++) await sleep(10)
    await sleep(100)
    return { malformedSent, achievedRate: (committed * 1000) / sendMs }
  }

  /** A Graphite outage: the receiver goes away (cutting any flush in progress) and comes back. */
  private async outage(): Promise<void> {
    if (!this.receiver.running) return
    this.outages++
    await this.receiver.stop()
    await sleep(OUTAGE_MS)
    if (!this.receiver.running) await this.receiver.start()
  }

  /**
   * Waits for the flushes that carry the last lines: until everything sent
   * has been seen and one more flush came (to catch extras), or two flushes
   * in a row brought nothing new (the server has worked off its backlog), or
   * a generous timeout.
   */
  private async settle(groups: KeyGroup[]): Promise<void> {
    while (!this.receiver.running) await sleep(50)
    const interval = this.server?.flushIntervalMs ?? this.options.flushIntervalMs
    const end = Date.now()
    const deadline = end + Math.max(60_000, 10 * interval)
    const seenAtFlush: number[] = []
    let flushes = this.flushes.length
    let complete: number | null = null
    for (;;) {
      await sleep(100)
      if (this.flushes.length > flushes) {
        flushes = this.flushes.length
        seenAtFlush.push(this.receivedTotal())
      }
      const quiet = seenAtFlush.length >= 3 && seenAtFlush.at(-1) === seenAtFlush.at(-3)
      if (complete === null && groups.every((g) => this.ledger.resultOf(g).lost === 0)) complete = seenAtFlush.length
      const extraFlushSeen = complete !== null && seenAtFlush.length > complete
      if (extraFlushSeen || quiet || Date.now() > deadline || this.harnessErrors.length > 0) return
    }
  }

  /** The latest sample taken at or before `t`. */
  private historyAt(t: number): { t: number; sent: number } | undefined {
    for (let i = this.history.length - 1; i >= 0; i--) if (this.history[i]!.t <= t) return this.history[i]
    return undefined
  }

  private receivedTotal(): number {
    return TRANSPORTS.reduce((sum, tr) => sum + this.ledger.receivedLines[tr], 0)
  }

  private sample(): void {
    const now = Date.now()
    const t = now - this.startedAt
    const received = this.receivedTotal()
    const previous = this.samples.at(-1)
    const dt = previous === undefined ? 1 : Math.max(0.001, (t - previous.t) / 1000)
    const interval = this.server?.flushIntervalMs ?? this.options.flushIntervalMs
    this.history.push({ t, sent: this.sentLines })
    const marks = this.flushMarks.slice(-3)
    const old = this.historyAt(t - 2 * interval - 1000)
    let reported = 0
    for (const [name, value] of this.ledger.server.drops) if (!/byte/i.test(name)) reported += value
    const { rss, cpu } = this.probe.sample(now)
    const sample: Sample = {
      t,
      phase: this.phaseLabel,
      sendRate: previous === undefined ? 0 : (this.sentLines - this.history.at(-2)!.sent) / dt,
      receiveRate: marks.length < 2 ? 0 : ((marks.at(-1)!.received - marks[0]!.received) * 1000) / Math.max(1, marks.at(-1)!.t - marks[0]!.t),
      lost: old === undefined ? 0 : Math.max(0, old.sent - received),
      reported,
      rss,
      cpu,
    }
    this.samples.push(sample)
    const mib = (b: number | null) => (b === null ? '-' : `${(b / 1048576).toFixed(0)} MiB`)
    const text =
      `${fmtDuration(t)} ${sample.phase} send ${Math.round(sample.sendRate)}/s recv ${Math.round(sample.receiveRate)}/s ` +
      `sent ${this.sentLines} lost ${sample.lost} reported ${reported} bad ${this.ledger.server.badLines} ` +
      `rss ${mib(rss)} cpu ${cpu === null ? '-' : cpu.toFixed(0) + '%'}${this.receiver.running ? '' : ' [graphite down]'}`
    this.progress(sample, text)
  }
}

/** Keys per transport: at least one of each kind. */
const KINDS_MIN = 8

export function fmtDuration(ms: number): string {
  const s = Math.floor(ms / 1000)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  return `${h > 0 ? h + 'h' : ''}${h > 0 || m > 0 ? String(m).padStart(h > 0 ? 2 : 1, '0') + 'm' : ''}${String(s % 60).padStart(m > 0 || h > 0 ? 2 : 1, '0')}s`
}
