import { PassThrough } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { Aggregator, type AggregatorConfig } from '../src/aggregate/aggregator'
import { appendPart, type FlushData, type FlushHeader, type FlushMetrics, type FlushPart, type FlushTrailer } from '../src/aggregate/flush-data'
import { TimerColumns } from '../src/aggregate/timer-columns'
import { ConsoleBackend } from '../src/backends/console/console'
import { configSchema } from '../src/config/schema'
import { AggregatorLoop, type FlushReceiver } from '../src/flush/loop'
import { IngestCounters } from '../src/core/ingest-counters'
import { PacketQueue } from '../src/queue/queue'
import { silentLogger } from '../src/log'

/*
 * The flush is taken at its instant and computed in parts, with the event
 * loop free between them: what arrives meanwhile belongs to the next
 * interval, and nothing is lost or counted twice.
 */

const NOW = 1_700_000_000_000

function aggregator(overrides: Partial<AggregatorConfig> = {}, log = silentLogger()): Aggregator {
  const cfg: AggregatorConfig = { ...configSchema.parse({ flushInterval: 10_000 }), dumpMessages: false, ...overrides }
  return new Aggregator(cfg, log)
}

const send = (a: Aggregator, ...lines: string[]): void => a.ingest(Buffer.from(lines.join('\n')))

/** Name -> value of every counter, timer statistic, gauge and set of a flush, Etsy's internal ones left out. */
function values(data: FlushMetrics): Map<string, number> {
  const out = new Map<string, number>()
  for (const c of data.counters) if (!c.name.startsWith('statsd.')) out.set(`c ${c.name}`, c.value)
  for (const tm of data.timers) for (const [stat, v] of tm.stats) out.set(`t ${tm.name}.${stat}`, v)
  for (const g of data.gauges) if (!g.name.startsWith('statsd.')) out.set(`g ${g.name}`, g.value)
  for (const s of data.sets) out.set(`s ${s.name}`, s.count)
  return out
}

/** Runs a taken interval's parts, calling `between` after each one. */
function runParts(a: Aggregator, nowMs: number, between: (part: number) => void = () => {}): { data: FlushData; parts: number } {
  const taken = a.takeInterval(nowMs)
  const data: FlushData = { ...taken.header, counters: [], timers: [], gauges: [], sets: [], processingTime: 0, selfMetrics: [] }
  let parts = 0
  for (let part = taken.nextPart(); part !== null; part = taken.nextPart()) {
    appendPart(data, part)
    between(++parts)
  }
  return { data: Object.assign(data, taken.finish()), parts }
}

function load(a: Aggregator, keys: number, perKey: number): void {
  for (let v = 0; v < perKey; v++) {
    const lines: string[] = []
    for (let k = 0; k < keys; k++) lines.push(`t${k}:${(k * 7 + v * 3) % 100}|ms`, `c${k % 50}:1|c`, `g${k % 40}:${v}|g`, `s${k % 30}:${k}|s`)
    for (let i = 0; i < lines.length; i += 50) send(a, ...lines.slice(i, i + 50))
  }
}

t.test('the flush in parts gives what a flush in one piece gives, keep/reset/delete rules included', async (t) => {
  for (const overrides of [{}, { deleteIdleStats: true }, { deleteTimers: true, deleteGauges: true, gaugesMaxTTL: 2 }]) {
    const one = aggregator(overrides)
    const parted = aggregator(overrides)
    for (let round = 0; round < 3; round++) {
      // Round 1 sends nothing: the rules for idle metrics apply.
      if (round !== 1) for (const a of [one, parted]) load(a, 3000, 3)
      const whole = one.flush(NOW + round * 10_000)
      const { data, parts } = runParts(parted, NOW + round * 10_000)
      t.ok(round === 1 || parts > 2, `round ${round}: ${parts} parts`)
      t.same(values(data), values(whole), `${JSON.stringify(overrides)} round ${round}`)
      t.equal(data.timestamp, whole.timestamp)
    }
  }
})

t.test('values arriving while a flush is computed go to the next interval, none lost or counted twice', async (t) => {
  for (const overrides of [{}, { deleteIdleStats: true }]) {
    const a = aggregator(overrides)
    load(a, 5000, 2)
    send(a, 'late.timer:5|ms', 'kept.timer:1|ms')
    let sent = false
    const { data, parts } = runParts(a, NOW, () => {
      if (sent) return
      sent = true
      // Timers the flush has not reached yet, one it never had, and the others.
      send(a, 't4999:1000|ms', 'late.timer:7|ms', 'new.timer:3|ms', 'c1:5|c', 'g1:99|g', 's1:new|s')
    })
    t.ok(parts > 2, `${parts} parts`)
    const first = values(data)
    t.equal(first.get('t t4999.count'), 2, 'the instant decides: the value sent mid-flush is not in this flush')
    t.equal(first.get('t t4999.upper'), Math.max((4999 * 7) % 100, (4999 * 7 + 3) % 100))
    t.equal(first.get('t late.timer.count'), 1)
    t.equal(first.get('t late.timer.upper'), 5)
    t.notOk(first.has('t new.timer.count'), 'a timer created mid-flush is not in it')
    t.equal(first.get('c c1'), 200)

    const next = values(a.flush(NOW + 10_000))
    t.equal(next.get('t t4999.count'), 1, 'it is in the next one')
    t.equal(next.get('t t4999.upper'), 1000)
    t.equal(next.get('t late.timer.count'), 1)
    t.equal(next.get('t late.timer.upper'), 7)
    t.equal(next.get('t new.timer.count'), 1)
    t.equal(next.get('c c1'), 5)
    t.equal(next.get('g g1'), 99)
    t.equal(next.get('s s1'), 1)
    // Without deletion an idle timer is sent with count 0; with it, it is gone.
    t.equal(next.get('t kept.timer.count'), overrides.deleteIdleStats ? undefined : 0)
  }
})

t.test("one aggregator's flush does not move another's timer values", async (t) => {
  const a = aggregator()
  const b = aggregator()
  send(a, 'x:1|ms')
  send(b, 'y:1|ms')
  b.flush(NOW)
  send(a, 'x:2|ms')
  t.equal(values(a.flush(NOW)).get('t x.count'), 2)
})

/** Records each flush a loop hands over, and whether two ever overlapped. */
class RecordingReceiver implements FlushReceiver {
  readonly name = 'recorder'
  readonly flushes: FlushData[] = []
  writes = 0
  active = 0
  overlapped = false
  /** Set to hold the end of each flush until released. */
  hold: Promise<void> | null = null
  onWrite: (() => void) | null = null

  beginFlush(header: FlushHeader): { write(part: FlushPart): void; end(trailer: FlushTrailer): Promise<void> } {
    if (this.active++ > 0) this.overlapped = true
    const data: FlushData = { ...header, counters: [], timers: [], gauges: [], sets: [], processingTime: 0, selfMetrics: [] }
    return {
      write: (part) => {
        this.writes++
        appendPart(data, part)
        this.onWrite?.()
      },
      end: async (trailer) => {
        if (this.hold !== null) await this.hold
        this.flushes.push(Object.assign(data, trailer))
        this.active--
      },
    }
  }
}

function loop(a: Aggregator, receiver: FlushReceiver, flushIntervalMs = 10_000, log = silentLogger()) {
  const counters = new IngestCounters()
  const queue = new PacketQueue({ maxBytes: 1 << 26, maxPackets: 1 << 20 }, counters)
  return { queue, loop: new AggregatorLoop(queue, a, [receiver], counters, flushIntervalMs, log) }
}

t.test('a large flush leaves the event loop free: packets queued meanwhile are parsed into the next interval', async (t) => {
  const a = aggregator()
  // Enough work for several slices of FLUSH_SLICE_MS even on a fast machine.
  load(a, 60_000, 5)
  const receiver = new RecordingReceiver()
  const { queue, loop: l } = loop(a, receiver)
  l.start(Date.now())
  t.teardown(() => l.stop())
  let turns = 0
  let spinning = true
  const spin = (): void => {
    turns++
    if (spinning) setImmediate(spin)
  }
  let queued = false
  receiver.onWrite = () => {
    if (queued) return
    queued = true
    queue.push(Buffer.from('mid.flush:1|c\nt0:1000|ms'))
  }
  setImmediate(spin)
  await l.flush()
  spinning = false
  t.ok(receiver.writes > 10, `${receiver.writes} parts`)
  t.ok(turns > 1, `the event loop turned ${turns} times during the flush`)
  t.equal(queue.length, 0, 'the packet queued mid-flush was parsed before the flush ended')
  const first = values(receiver.flushes[0]!)
  t.notOk(first.has('c mid.flush'))
  t.equal(first.get('t t0.count'), 5)
  await l.flush()
  const second = values(receiver.flushes[1]!)
  t.equal(second.get('c mid.flush'), 1)
  t.equal(second.get('t t0.count'), 1)
})

t.test('a backlog queued at the flush instant is parsed in slices; packets queued after it go to the next interval', async (t) => {
  const a = aggregator()
  const receiver = new RecordingReceiver()
  const { queue, loop: l } = loop(a, receiver)
  // Queued before the loop runs, so it is all there at the flush instant: several drain slices' worth.
  const packets = 60_000
  for (let i = 0; i < packets; i++) queue.push(Buffer.from(Array.from({ length: 20 }, (_, k) => `backlog.${k}:1|c`).join('\n')))
  l.start(Date.now())
  t.teardown(() => l.stop())
  let turns = 0
  let late = false
  const spin = (): void => {
    turns++
    // Sent while the backlog is being parsed: after the instant.
    if (!late && turns === 2) {
      late = true
      queue.push(Buffer.from('after.instant:1|c'))
    }
    if (receiver.flushes.length === 0) setImmediate(spin)
  }
  setImmediate(spin)
  await l.flush()
  t.ok(turns > 2, `the event loop turned ${turns} times while the backlog was parsed`)
  t.ok(late, 'a packet was queued during the flush')
  const first = values(receiver.flushes[0]!)
  t.equal(first.get('c backlog.0'), packets, 'the whole backlog is in the flush')
  t.notOk(first.has('c after.instant'), 'a packet queued after the instant is not')
  await l.flush()
  t.equal(values(receiver.flushes[1]!).get('c after.instant'), 1, 'it is in the next flush')
})

t.test('a flush due while the previous one still runs waits for it, is logged as late, and loses nothing', async (t) => {
  const lines: string[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
  const a = aggregator({ flushInterval: 40 })
  const receiver = new RecordingReceiver()
  let release: () => void = () => {}
  receiver.hold = new Promise((resolve) => (release = resolve))
  const { loop: l } = loop(a, receiver, 40, log)
  send(a, 'slow:1|c')
  l.start(Date.now())
  // The first flush is held for several intervals; values keep arriving meanwhile.
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 40))
    send(a, 'slow:1|c')
  }
  receiver.hold = null
  release()
  // The flush that came due meanwhile runs as soon as the held one ends.
  while (receiver.flushes.length < 2) await new Promise((resolve) => setTimeout(resolve, 10))
  await l.stop()
  t.notOk(receiver.overlapped, 'no two flushes overlapped')
  const total = receiver.flushes.reduce((n, f) => n + (f.counters.find((c) => c.name === 'slow')?.value ?? 0), 0)
  t.equal(total, 6, 'every value in exactly one flush')
  t.ok(receiver.flushes.length >= 2)
  t.ok(lines.some((l) => l.includes('flush started late')), 'the late flush is logged')
})

t.test('a flush timer that fires early by the wall clock still flushes once per interval', async (t) => {
  // Node schedules a timer by the loop's cached time, so by Date.now() it can fire a few ms early.
  // A wall clock running 5 % slow makes every timer early by 5 % of its delay, here 5 ms.
  const realNow = Date.now
  const t0 = realNow()
  Date.now = () => t0 + (realNow() - t0) * 0.95
  t.teardown(() => {
    Date.now = realNow
  })
  const begun: number[] = []
  const receiver: FlushReceiver = {
    name: 'times',
    beginFlush: () => {
      begun.push(performance.now())
      return { write: () => {}, end: async () => {} }
    },
  }
  const { loop: l } = loop(aggregator({ flushInterval: 100 }), receiver, 100)
  l.start(Date.now())
  await new Promise((resolve) => setTimeout(resolve, 1_050))
  await l.stop()
  // The last flush is stop()'s.
  const gaps = begun.slice(1, -1).map((at, i) => at - begun[i]!)
  t.ok(gaps.length >= 8, `${gaps.length + 1} scheduled flushes in about a second`)
  t.ok(Math.min(...gaps) > 50, `no flush followed the one before within half an interval (gaps ${gaps.map(Math.round).join(' ')} ms)`)
})

t.test('console backend: the JSON written part by part is what JSON.stringify prints', async (t) => {
  const a = aggregator()
  send(a, 'a.b:1|c', 'a.b:2|c', 'lat:3|ms', 'lat:5|ms', 'g:7|g', 's:x|s', 's:y|s', 'q"uote:1|c', 'idle:1|ms')
  a.flush(NOW)
  send(a, 'a.b:1|c', 'lat:3|ms', 'lat:5|ms', 'g:+1|g', 's:x|s', 'q"uote:1|c')
  const data = a.flush(NOW + 10_000)
  data.selfMetrics.push({ name: 'queue.dropped_packets', value: 2 })
  for (const prettyprint of [false, true]) {
    const out = new PassThrough()
    const chunks: Buffer[] = []
    out.on('data', (c: Buffer) => chunks.push(c))
    const backend = new ConsoleBackend({ type: 'console', prettyprint }, silentLogger(), out)
    const writer = backend.beginFlush(data)
    const none = TimerColumns.empty()
    for (let i = 0; i < data.counters.length; i++) writer.write({ counters: [data.counters[i]!], timers: none, gauges: [], sets: [] })
    writer.write({ counters: [], timers: TimerColumns.from(data.timers), gauges: [], sets: [] })
    writer.write({ counters: [], timers: none, gauges: data.gauges, sets: data.sets })
    await writer.end(data)
    await backend.close()
    const doc = {
      timestamp: data.timestamp,
      counters: Object.fromEntries(data.counters.map((c) => [c.name, c.value])),
      counter_rates: Object.fromEntries(data.counters.map((c) => [c.name, c.rate])),
      timer_data: Object.fromEntries(data.timers.map((tm) => [tm.name, Object.fromEntries(tm.stats)])),
      gauges: Object.fromEntries(data.gauges.map((g) => [g.name, g.value])),
      sets: Object.fromEntries(data.sets.map((s) => [s.name, s.count])),
      processing_time: data.processingTime,
      self_metrics: Object.fromEntries(data.selfMetrics.map((m) => [m.name, m.value])),
    }
    t.equal(Buffer.concat(chunks).toString(), JSON.stringify(doc, null, prettyprint ? 2 : undefined) + '\n', `prettyprint ${prettyprint}`)
  }
})

t.test("timers' raw values go with each part only when a backend asks for them", async (t) => {
  const without = aggregator()
  send(without, 'a.lat:5|ms', 'a.lat:7|ms|@0.5')
  const plain = without.takeInterval(Date.now()).nextPart()!.timers
  t.equal(plain.samplesOf(0).length, 0, 'not copied when no backend buckets them')
  const withValues = aggregator()
  send(withValues, 'a.lat:5|ms', 'a.lat:7|ms|@0.5')
  const part = withValues.takeInterval(Date.now(), true).nextPart()!.timers
  t.same([...part.samplesOf(0)].sort(), [5, 7])
  t.equal(part.sampleCounts[0], 3, 'the sample-rate-adjusted count they stand for')
})
