import t from 'tap'
import { Aggregator } from '../src/aggregate/aggregator'
import { GraphiteFormatter } from '../src/backends/graphite-format'
import { configSchema, type GraphiteBackendConfig } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { NativePacketParser, type CountingSink, nativeLineParsing } from '../src/parse/native-parser'
import { PacketParser } from '../src/parse/packet-parser'
import { stableValues } from './helpers/graphite-lines'
import { seededRandom } from './helpers/random'
import { LineCountingSink } from './helpers/recording-sink'

/*
 * The addon's line fast path against the JavaScript parser alone: the same
 * values, bad lines and line count, in the same order, numbers compared with
 * Object.is (so -0 and every last bit count), on generated StatsD-ish input,
 * in batches of datagrams and in packets too big for one call's records.
 */

const native = nativeLineParsing()

class Log extends LineCountingSink implements CountingSink<string> {
  resolveKey(buf: Buffer, ks: number, ke: number, ts: number, te: number): string | null {
    const key = `${buf.toString('latin1', ks, ke)}|${te > ts ? buf.toString('latin1', ts, te) : ''}`
    return key === 'empty|' ? null : key
  }
  onBadFields(buf: Buffer, start: number, end: number, count: number): void {
    this.calls.push(['fields', buf.toString('latin1', start, end), count])
  }
}

function sameCalls(a: Log, b: Log): boolean {
  if (a.lines !== b.lines || a.calls.length !== b.calls.length) return false
  return a.calls.every((call, i) => call.length === b.calls[i]!.length && call.every((x, j) => Object.is(x, b.calls[i]![j])))
}

/** `containerIdTag`: both parsers make a "c:" field a tag (the addon then leaves such lines to JavaScript). */
function parsers(containerIdTag = false): { js: Log; fast: Log; jsParser: PacketParser<string>; fastParser: NativePacketParser<string> } {
  if (!('addon' in native)) throw new Error(native.unavailable)
  const js = new Log()
  const fast = new Log()
  const jsParser = new PacketParser(js)
  const fallback = new PacketParser(fast)
  jsParser.containerIdTag = fallback.containerIdTag = containerIdTag
  return { js, fast, jsParser, fastParser: new NativePacketParser(native.addon, fast, fallback) }
}

const skip = 'unavailable' in native ? `the addon is not built: ${native.unavailable}` : false

/** Two aggregators with the same config, with the fast path and without, each with a Graphite formatter. */
function withAndWithout(config: object): { aggregator: Aggregator; formatter: GraphiteFormatter }[] {
  const defaults = configSchema.parse({ flushInterval: 1000, backends: [{ type: 'graphite', host: '127.0.0.1' }], ...config })
  return [true, false].map((nativeParsing) => ({
    aggregator: new Aggregator({ ...defaults, dumpMessages: false, nativeParsing }, silentLogger()),
    formatter: new GraphiteFormatter({ ...(defaults.backends[0] as GraphiteBackendConfig), prefixStats: defaults.prefixStats, flushCounts: true, sanitizeNames: false }),
  }))
}

for (const containerIdTag of [false, true]) t.test(`same calls as the JavaScript parser on generated lines${containerIdTag ? ', c: fields as tags' : ''}`, { skip }, async (t) => {
  const random = seededRandom(containerIdTag ? 1234 : 4321)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const keys = ['a', 'foo.bar', 'x-y_Z9', 'empty', 'sp ace', 'sl/ash', 'ü', '', 'k'.repeat(40), 'tag|#t:1', 'a:b']
  const values = ['1', '-1', '+1', '0', '-0', '+0', '1.5', '-2.25', '.5', '5.', '1.2.3', '1e3', '0x10', '123456789012345', '1234567890123456',
    '0.000000000000001', '', 'abc', ' 1', '00001', '-', '+-1', '9007199254740993']
  const types = ['c', 'ms', 'g', 's', 'h', 'd', 'x', '', 'm', 'msx', 'c ', ' c', 'C', 'cc']
  const tails = ['', '', '', '|@0.1', '|@1', '|@0', '|@1.5', '|@', '|@.5', '|@0.5|extra', '|#t:v', '|x', '|@0.25|#a', ':2|c', ':', '|@1e-1', '|@ 0.5',
    // Tags, which the addon reads after the type or the rate; any other field, or tags before the rate, are JavaScript's.
    '|#t:v,e=mc2,,solo', '|#', '|#a\rb', '|#a|@0.5', '|@0.5|#a|c:x', '|#a:b|T1700000000', '|#a,' + 'b'.repeat(1100), '|#ü:ß', '|#a|#b']
  // DogStatsD fields after those, in any order: the addon reads them all, and leaves doubtful ones to JavaScript.
  const fields = ['|@0.5', '|@0.25', '|@0', '|@2', '|@x', '|#a:b', '|#', '|#c:d,e', '|c:abc123', '|c:', '|e:it-false,cn-nginx', '|e:', '|card:high', '|card:low',
    '|card:bogus', '|card:', '|T1700000000', '|T999999999999', '|T1234567890123', '|T0', '|T', '|T17x', '|T-1', '|zz:9', '|z', '|#x|#y', '|', '|1', '|.5',
    '|c:a\rb', '|zz\r', '|ü', '|:', '|@0.5:2|c']
  const ends = ['\n', '\n', '\r\n', '', '\n\n', '\r']
  const line = (): string => {
    if (random() < 0.03) return String.fromCharCode(...Array.from({ length: Math.floor(random() * 8) }, () => Math.floor(random() * 256)))
    let tail = pick(tails)
    for (let f = Math.floor(random() * 4); f > 0; f--) tail += pick(fields)
    return `${pick(keys)}:${pick(values)}|${pick(types)}${tail}`
  }
  // One pair of parsers throughout, so the key table also serves keys seen in earlier packets.
  const { js, fast, jsParser, fastParser } = parsers(containerIdTag)
  let mismatches = 0
  for (let i = 0; i < (containerIdTag ? 5_000 : 20_000); i++) {
    for (const log of [js, fast]) {
      log.calls = []
      log.lines = 0
    }
    const datagrams: Buffer[] = []
    for (let d = 1 + Math.floor(random() * 3); d > 0; d--) {
      let text = ''
      for (let l = 1 + Math.floor(random() * 4); l > 0; l--) text += line() + pick(ends)
      datagrams.push(Buffer.from(text, 'latin1'))
    }
    // As a batch of datagrams delivers them: back to back, a line never running into the next.
    const slab = Buffer.concat([Buffer.from('skipped:1|c\n'), ...datagrams])
    const batchEnds = new Int32Array(datagrams.length)
    let at = 12
    datagrams.forEach((d, k) => {
      jsParser.parse(slab, at, at + d.length)
      batchEnds[k] = at += d.length
    })
    fastParser.parsePackets(slab, 12, batchEnds, datagrams.length)
    if (!sameCalls(fast, js) && mismatches++ < 5) {
      t.same({ text: datagrams.map((d) => d.toString('latin1')), lines: fast.lines, calls: fast.calls }, { text: datagrams.map((d) => d.toString('latin1')), lines: js.lines, calls: js.calls })
    }
  }
  t.equal(mismatches, 0)
})

t.test('a packet of more lines than one call has room for', { skip }, async (t) => {
  const { js, fast, jsParser, fastParser } = parsers()
  let text = ''
  // Some lines of the most records (a new key, an unknown field, a timestamp, the value), where a call may fill up.
  for (let i = 0; i < 30_000; i++) {
    text += i % 7 === 0 ? `k${i % 50}:1|c:2|ms\n` : i % 11 === 0 ? `n${i}:${i}|c|zz|T1700000000\n` : `k${i % 5000}:${i}|${['c', 'ms', 'g'][i % 3]}\n`
  }
  const packet = Buffer.from(text)
  jsParser.parse(packet)
  fastParser.parse(packet)
  t.equal(fast.lines, 30_000)
  t.ok(sameCalls(fast, js))
  t.equal(fastParser.linesForJavaScript, Math.ceil(30_000 / 7), 'only the lines of two values go to JavaScript')
})

t.test('keys are the ones resolved, before and after clear()', { skip }, async (t) => {
  const { fast, fastParser } = parsers()
  fastParser.parse(Buffer.from('a:1|c\nb:2|c\na:3|c\nempty:1|c\n'))
  fastParser.clear()
  fastParser.parse(Buffer.from('b:4|c\na:5|c\n'))
  t.strictSame(fast.calls, [
    ['c', 'a|', 1, 1],
    ['c', 'b|', 2, 1],
    ['c', 'a|', 3, 1],
    ['bad', 'empty:1|c', 'empty key'],
    ['c', 'b|', 4, 1],
    ['c', 'a|', 5, 1],
  ])
  t.equal(fast.lines, 6)
})

t.test('bad arguments are refused, not read', { skip }, async (t) => {
  if (!('addon' in native)) return
  const { addon } = native
  const table = addon.createKeyTable(new Int32Array(30), new Float64Array(20), new Int32Array(8), new Int32Array(8))
  t.throws(() => addon.parseLines(table, Buffer.from('a:1|c'), 0, new Int32Array([99]), 0, 1, null), /outside the buffer/)
  t.throws(() => addon.parseLines(table, Buffer.from('a:1|c'), 0, new Int32Array([5]), 0, 2, null), /parseLines/)
  t.equal(addon.parseLines(table, Buffer.from('a:1|c'), 0, new Int32Array([5]), 0, 1, null), 2) // a new key, then its value
})

t.test('an aggregator gives the same flushes with and without the fast path', { skip }, async (t) => {
  // deleteIdleStats forgets idle names between flushes, which must clear the key ids too.
  const both = withAndWithout({ deleteIdleStats: true })
  const random = seededRandom(99)
  for (let flush = 0; flush < 6; flush++) {
    const lines: string[] = []
    for (let i = 0; i < 2000; i++) {
      const key = `k${Math.floor(random() * (flush % 2 === 0 ? 300 : 30))}`
      const r = random()
      lines.push(r < 0.4 ? `${key}:${Math.floor(random() * 9)}|c|@0.3` : r < 0.7 ? `${key}.t:${(random() * 100).toFixed(3)}|ms` : r < 0.8 ? `${key}.g:-${Math.floor(random() * 5)}|g` : r < 0.85 ? `${key}.s:${i % 7}|s` : r < 0.95 ? `${key}:1|c:2|c` : `${key} bad|x`)
    }
    const batch = Buffer.from(lines.join('\n'))
    const results = both.map(({ aggregator, formatter }) => {
      aggregator.ingest(batch)
      return [...stableValues(formatter.format(aggregator.flush(1_700_000_000_000 + flush * 1000), 0))]
    })
    t.strictSame(results[0], results[1], `flush ${flush}`)
  }
})

t.test('counters the addon adds itself: the same flushes, busiest keys and totals', { skip }, async (t) => {
  for (const deleteIdleStats of [false, true]) {
    const both = withAndWithout({ deleteIdleStats })
    const random = seededRandom(7)
    for (let flush = 0; flush < 8; flush++) {
      // Many packets a flush, so that keys are bound to their rows after their first one.
      const packets: Buffer[] = []
      for (let p = 0; p < 40; p++) {
        // A timer keeps the name alive (its key ids stay), so deleting a_b's counter only unbinds its row.
        const lines = ['a_b:1|ms', 'a_b:0.1|c']
        for (let i = 0; i < 50; i++) {
          // Fractions and rates make the order of additions show in the last bits; "a b" and "a_b" are one metric.
          const key = random() < 0.1 ? (random() < 0.5 ? 'a b' : 'a_b') : `k${Math.floor(random() * (flush < 4 ? 40 : 400))}`
          const r = random()
          // Now and then a line for JavaScript (an exponent, an overflow), after which the addon adds nothing itself.
          lines.push(r < 0.6 ? `${key}:${(random() * 10).toFixed(2)}|c` : r < 0.8 ? `${key}:0.1|c|@0.3` : r < 0.85 ? `${key}:1|ms` : r < 0.99 ? `${key}:-1.7|c` : r < 0.995 ? `${key}:1e-1|c` : `${key}:1e308|c`)
        }
        packets.push(Buffer.from(lines.join('\n')))
      }
      if (flush === 5 && !deleteIdleStats) for (const { aggregator } of both) t.strictSame(aggregator.deleteMatching('counters', 'a_b'), ['a_b'])
      const results = both.map(({ aggregator, formatter }) => {
        for (const packet of packets) aggregator.ingest(packet)
        const text = formatter.format(aggregator.flush(1_700_000_000_000 + flush * 1000), 0)
        const { busiestKeys, lines, badLines } = aggregator.inspect()
        return { values: [...stableValues(text)], busiestKeys, lines, badLines }
      })
      t.strictSame(results[0], results[1], `deleteIdleStats ${deleteIdleStats}, flush ${flush}`)
    }
  }
})

t.test('a bound counter is added to its row by the addon, with no record', { skip }, async (t) => {
  if (!('addon' in native)) return
  const { addon } = native
  const state = new Int32Array(8)
  const binds = new Int32Array(8)
  const table = addon.createKeyTable(new Int32Array(30), new Float64Array(20), state, binds)
  const values = new Float64Array(4)
  const one = (text: string): Int32Array => new Int32Array([Buffer.byteLength(text)])
  t.equal(addon.parseLines(table, Buffer.from('a:1|c'), 0, one('a:1|c'), 0, 1, values), 2, 'unbound: a new key, then its value')
  binds.set([0, 2])
  state[3] = 1
  t.equal(addon.parseLines(table, Buffer.from('a:2|c\na:0.5|c|@0.5'), 0, one('a:2|c\na:0.5|c|@0.5'), 0, 1, values), 0)
  t.strictSame([...values], [0, 0, 3, 0])
  t.equal(state[2], 2, 'two lines added')
  // Lines for JavaScript: after one that may hold a counter, counters are records too (in order).
  // Tagged lines are the addon's: a new key and its value; an unbound tagged counter stops direct adds too.
  // A field starting like a number is JavaScript's; an unknown field is a record of its count, and no stop.
  for (const [before, records, added] of [
    ['u:x|s', 1, 1],
    ['t:1|ms|#country:c|1', 1, 1],
    ['b:1|c|#t|1', 2, 0],
    ['f:1|ms|zz', 3, 1],
    ['t:1|ms|#country:c', 2, 1],
    ['b:1|c|#t', 3, 0],
    ['b:1| c', 2, 0],
    ['b:1|ms:2|c', 2, 0],
  ] as const) {
    const text = `${before}\na:1|c`
    t.equal(addon.parseLines(table, Buffer.from(text), 0, one(text), 0, 1, values), records, before)
    t.equal(state[2], added, `${before}: lines added`)
  }
  t.equal(addon.parseLines(table, Buffer.from('a:1|c'), 0, one('a:1|c'), 0, 1, null), 1, 'no column: a record')
  state[4] = 1
  t.equal(addon.parseLines(table, Buffer.from('a:1|c'), 0, one('a:1|c'), 0, 1, values), 1, 'unbound again')
  const hits = new Int32Array(4)
  t.equal(addon.takeHits(table, hits, 0), 1)
  t.strictSame([...hits.subarray(0, 2)], [0, 6])
  t.equal(addon.takeHits(table, hits, 0), 0, 'taken once')
})

t.test('a counter the addon leaves to JavaScript is never overtaken by one it adds itself', { skip }, async (t) => {
  // 0.1 + 0.1 + 0.6 is 0.8 in that order, 0.7999999999999999 if the 0.6 comes before the second 0.1.
  for (const [why, second] of [
    ['a line for JavaScript (an exponent)', 'x:1e-1|c'],
    ['a raw key not yet bound that names the same metric', 'x!:0.1|c'],
  ]) {
    const values = withAndWithout({}).map(({ aggregator }) => {
      aggregator.ingest(Buffer.from('x:0.1|c'))
      aggregator.ingest(Buffer.from(`${second}\nx:0.6|c`))
      return aggregator.tables().counters.get('x')
    })
    t.strictSame(values, [0.8, 0.8], why)
  }
})

t.test('a sink that resolves interned keys itself is asked once per key, through resolveInterned', { skip }, async (t) => {
  if (!('addon' in native)) return
  class Interning extends Log {
    interned: string[] = []
    byBytes = 0
    override resolveKey(buf: Buffer, ks: number, ke: number, ts: number, te: number): string | null {
      this.byBytes++
      return super.resolveKey(buf, ks, ke, ts, te)
    }
    resolveInterned(buf: Buffer, ks: number, ke: number): string | null {
      const key = buf.toString('latin1', ks, ke)
      this.interned.push(key)
      return `${key}|`
    }
  }
  const sink = new Interning()
  const parser = new NativePacketParser(native.addon, sink, new PacketParser(sink))
  parser.parse(Buffer.from('a:1|c\nb:2|ms\na:3|c\nb:4|g\nc:1|s\n'))
  t.same(sink.interned, ['a', 'b'], 'fast lines: by id, once per key')
  t.equal(sink.byBytes, 1, 'the line the JavaScript parser reads (a set) still goes through resolveKey')
  t.same(
    sink.calls.map((c) => c.slice(0, 3)),
    [['c', 'a|', 1], ['ms', 'b|', 2], ['c', 'a|', 3], ['g', 'b|', 4], ['s', 'c|', '1']],
  )
})
