import t from 'tap'
import type { FlushPart } from '../src/aggregate/flush-data'
import { NameBytes } from '../src/aggregate/name-bytes'
import { PartRows } from '../src/aggregate/part-rows'
import { encodePart, PartDecoder } from '../src/aggregate/shards/protocol'
import { TimerColumns } from '../src/aggregate/timer-columns'
import { BLOCK_BYTES, BlockPool, Columns, partStep } from '../src/backends/graphite/flush-record'
import { GraphiteFormatter, type GraphiteNaming } from '../src/backends/graphite-format'
import { configSchema, type GraphiteBackendConfig } from '../src/config/schema'

/*
 * Names kept as bytes on the main thread (src/aggregate/name-bytes.ts): a
 * shard's part crosses to the main thread with its names as UTF-8, and
 * Graphite writes exactly the lines it writes from strings.
 */

const NAMES = ['a.b', 'caf\u00e9.latency', '\u65e5\u672c.req', 'emoji.\u{1f600}', 'tagged;env=prod;dc=eu', 'x', 'long.name.with.many.parts.for.the.native.copy']

t.test('names round-trip as UTF-8, one after the other; tags are found', async (t) => {
  const names = NameBytes.encode(NAMES)
  t.equal(names.count, NAMES.length)
  t.strictSame(names.all(), NAMES)
  t.equal(names.bytes.toString('utf8'), NAMES.join(''), 'no separator, every byte a name')
  t.strictSame(NAMES.map((_, i) => names.length(i)), NAMES.map((n) => Buffer.byteLength(n)))
  t.strictSame(NAMES.map((_, i) => names.tagged(i)), NAMES.map((n) => n.includes(';')))
  const ascii = NameBytes.encode(['a', 'bb', 'ccc'])
  t.strictSame(Array.from(ascii.ends), [1, 3, 6])
  t.strictSame([0, 1, 2].map((i) => ascii.tagged(i)), [false, false, false])
  t.equal(NameBytes.encode([]).count, 0)
  t.strictSame(NameBytes.encode(['', 'a', '']).all(), ['', 'a', ''], 'empty names keep their place')
})

/** A part of every kind, with names of every sort. */
function samplePart(): FlushPart {
  const timers = new TimerColumns(['count', 'mean', 'upper_90'])
  NAMES.forEach((name, i) => {
    timers.push(0, i + 1)
    timers.push(1, i * 1.5)
    if (i % 2 === 0) timers.push(2, i / 3)
    timers.endTimer(name, i === 3)
  })
  return {
    counters: NAMES.map((name, i) => ({ name, value: i * 10, rate: i })),
    timers,
    gauges: NAMES.map((name, i) => ({ name: `g.${name}`, value: -i * 0.25 })),
    sets: NAMES.map((name, i) => ({ name: `s.${name}`, count: i })),
  }
}

/** The part as the main thread gets it from a shard: encoded, cloned across as postMessage would, decoded. */
function acrossThreads(part: FlushPart): FlushPart {
  const { wire, transfer } = encodePart(part, 0, { summedCounters: new Set(), firstShardGauges: new Set() }, {})
  return new PartDecoder().decode(structuredClone(wire, { transfer }))
}

function naming(extra: Partial<GraphiteNaming> = {}): GraphiteNaming {
  const defaults = configSchema.parse({ backends: [{ type: 'graphite', host: '127.0.0.1' }] })
  return { ...(defaults.backends[0] as GraphiteBackendConfig), prefixStats: 'statsd', flushCounts: true, sanitizeNames: false, ...extra }
}

/** Graphite's bytes for one part. */
function graphiteBytes(formatter: GraphiteFormatter, part: FlushPart): Buffer {
  const lines = formatter.begin({ timestamp: 1_700_000_000, flushIntervalMs: 10_000 })
  lines.write(part)
  return Buffer.concat(lines.end({ processingTime: 1, selfMetrics: [] }, 2).chunks)
}

t.test("a shard's part reaches the main thread with its names as bytes; rows give strings when read", async (t) => {
  const part = samplePart()
  const got = acrossThreads(part)
  t.ok(got.names !== undefined && got.timers.nameBytes !== null, 'names as bytes')
  t.strictSame(got.counters.map((c) => [c.name, c.value, c.rate]), part.counters.map((c) => [c.name, c.value, c.rate]))
  t.strictSame(got.gauges.map((g) => [g.name, g.value]), part.gauges.map((g) => [g.name, g.value]))
  t.strictSame(got.sets.map((s) => [s.name, s.count]), part.sets.map((s) => [s.name, s.count]))
  t.strictSame(got.timers.entries(), part.timers.entries())
  t.equal(got.timers.count, NAMES.length)
})

t.test('Graphite writes the same bytes from names as bytes as from strings, in every naming', async (t) => {
  const namings: [string, Partial<GraphiteNaming>][] = [
    ['legacy namespace', {}],
    ['new namespace, global prefix and suffix', { legacyNamespace: false, globalPrefix: 'pre', globalSuffix: 'suf', prefixCounter: 'c' }],
    ['no counts', { flushCounts: false }],
    ['sanitised by the backend', { sanitizeNames: true }],
  ]
  for (const [label, extra] of namings) {
    const formatter = new GraphiteFormatter(naming(extra))
    const fromStrings = graphiteBytes(formatter, samplePart())
    const fromBytes = graphiteBytes(formatter, acrossThreads(samplePart()))
    t.ok(fromStrings.length > 1000, `${label}: ${fromStrings.length} bytes`)
    t.equal(fromBytes.toString('utf8'), fromStrings.toString('utf8'), `${label}: the same lines in the same order`)
  }
})

t.test("Graphite's record keeps the names as bytes: every replay (a retry) writes identical bytes", async (t) => {
  const formatter = new GraphiteFormatter(naming())
  const expected = graphiteBytes(formatter, samplePart())
  const decoded = acrossThreads(samplePart())
  const [step, held] = partStep(decoded, new Columns(new BlockPool()))
  if (step.kind !== 'part') throw new Error('not a part')
  // The decoder's rows are reused for the next part: the record must not depend on them.
  acrossThreads({ counters: [{ name: 'other', value: 1, rate: 1 }], timers: TimerColumns.empty(), gauges: [], sets: [] })
  const rows = new PartRows()
  const first = graphiteBytes(formatter, step.part.toPart(rows))
  const second = graphiteBytes(formatter, step.part.toPart(rows))
  t.equal(first.toString('utf8'), expected.toString('utf8'), 'the first attempt writes what strings would')
  t.ok(first.equals(second), 'a retry writes identical bytes')
  const replayed = step.part.toPart(new PartRows())
  t.ok(replayed.names !== undefined && replayed.timers.nameBytes !== null, 'no string made for the record')
  t.strictSame(replayed.counters.map((c) => c.name), NAMES, 'a receiver reading a name gets it')
  const names = decoded.names!
  t.ok(held >= names.counters.byteSize + names.gauges.byteSize + names.sets.byteSize, `the names' ${held} bytes count against the bound`)
})

t.test("Graphite's record holds a copy of a shard's names, in its pooled blocks, not the shard's memory", async (t) => {
  const formatter = new GraphiteFormatter(naming())
  const expected = graphiteBytes(formatter, samplePart())
  const decoded = acrossThreads(samplePart())
  const [step] = partStep(decoded, new Columns(new BlockPool()))
  if (step.kind !== 'part') throw new Error('not a part')
  const recorded = step.part.toPart(new PartRows())
  const shards = [decoded.names!.counters, decoded.names!.gauges, decoded.names!.sets, decoded.timers.nameBytes!]
  const kept = [recorded.names!.counters, recorded.names!.gauges, recorded.names!.sets, recorded.timers.nameBytes!]
  kept.forEach((names, i) => {
    t.not(names.bytes.buffer, shards[i]!.bytes.buffer, `names ${i}: not the shard's bytes`)
    t.equal(names.bytes.buffer.byteLength, BLOCK_BYTES, `names ${i}: in one of the record's blocks`)
  })
  // The shard's memory may be freed and reused as soon as the record is made.
  for (const names of shards) {
    names.bytes.fill(0x78)
    names.ends.fill(0)
  }
  t.equal(graphiteBytes(formatter, step.part.toPart(new PartRows())).toString('utf8'), expected.toString('utf8'), 'the record writes the same lines')
  t.strictSame(recorded.names!.counters.all(), NAMES)
  t.strictSame(NAMES.map((_, i) => recorded.names!.counters.tagged(i)), NAMES.map((n) => n.includes(';')), 'tags still found')
})
