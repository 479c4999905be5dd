import t, { type Test } from 'tap'
import { Aggregator } from '../src/aggregate/aggregator'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { buildKeyName } from '../src/parse/key-name'
import { type CountingSink, NativePacketParser, nativeLineParsing } from '../src/parse/native-parser'
import { MetricType, PacketParser } from '../src/parse/packet-parser'
import { LineCountingSink } from './helpers/recording-sink'

/*
 * Every DogStatsD field after the type, in every order, with and without an
 * unknown one, for every metric type, through the JavaScript parser and the
 * addon's fast path; then the lines of issue 28 through the aggregator: no
 * series but the ones the lines name.
 */

class Recorder extends LineCountingSink implements CountingSink<string> {
  resolveKey(buf: Buffer, ks: number, ke: number, ts: number, te: number): string | null {
    const name = buildKeyName(buf, ks, ke, ts, te, true)
    return name === '' ? null : name
  }
  onBadFields(_buf: Buffer, _start: number, _end: number, count: number): void {
    this.calls.push(['bad fields', count])
  }
}

const native = nativeLineParsing()
/** Lines the fast path handed to the JavaScript parser in the last parse() (0 without the addon). */
let handed = 0

/** The calls for `text` through the JavaScript parser, and through the addon's fast path (the same, or the test fails). */
function parse(t: Test, text: string): unknown[][] {
  const js = new Recorder()
  new PacketParser(js).parse(Buffer.from(text))
  handed = 0
  if ('addon' in native) {
    const fast = new Recorder()
    const fastParser = new NativePacketParser(native.addon, fast, new PacketParser(fast))
    fastParser.parse(Buffer.from(text))
    handed = fastParser.linesForJavaScript
    if (JSON.stringify(fast.calls) !== JSON.stringify(js.calls) || fast.lines !== js.lines) t.fail(`the fast path differs on ${JSON.stringify(text)}`)
  }
  return js.calls
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}

function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((all, item) => all.concat(all.map((s) => [...s, item])), [[]])
}

const RATE = '@0.5'
const TAGS = '#env:prod,solo,url:http://x=y,,a=b'
const TAGGED = ';env=prod;solo;url=http--x=y;a=b'
const KNOWN = [RATE, TAGS, 'c:abc123', 'e:it-false,cn-nginx,pu-123', 'card:high']
const UNKNOWN = 'zz:9'

const TYPES: [type: string, value: string, expected: (name: string, rated: boolean) => unknown[]][] = [
  ['c', '3', (name, rated) => ['c', name, 3, rated ? 0.5 : 1]],
  ['ms', '12.5', (name, rated) => ['ms', name, 12.5, rated ? 0.5 : 1]],
  ['h', '7', (name, rated) => ['h', name, 7, rated ? 0.5 : 1]],
  ['d', '8', (name, rated) => ['h', name, 8, rated ? 0.5 : 1]],
  ['g', '-4', (name) => ['g', name, -4, true]],
  ['s', 'user42', (name) => ['s', name, 'user42']],
]

t.test('every field, every order, every type, with and without an unknown field', async (t) => {
  let lines = 0
  // One assertion for the lot (thousands of lines): the first few that differ, shown in full.
  const wrong: unknown[] = []
  // The fast path reads every one of these lines itself, but sets (JavaScript's: a set's value is text).
  const leftToJavaScript: string[] = []
  for (const [type, value, expected] of TYPES) {
    for (const subset of subsets(KNOWN)) {
      for (const order of permutations(subset)) {
        // The unknown field at every position, and not at all.
        for (let at = -1; at <= order.length; at++) {
          const fields = at < 0 ? order : [...order.slice(0, at), UNKNOWN, ...order.slice(at)]
          const line = `dd.m:${value}|${type}${fields.map((f) => '|' + f).join('')}`
          const name = 'dd.m' + (order.includes(TAGS) ? TAGGED : '')
          const want = [...(at < 0 ? [] : [['bad fields', 1]]), expected(name, order.includes(RATE))]
          const got = parse(t, line)
          if (JSON.stringify(got) !== JSON.stringify(want) && wrong.length < 5) wrong.push({ line, got, want })
          if (handed !== 0 && type !== 's' && leftToJavaScript.length < 5) leftToJavaScript.push(line)
          lines++
        }
      }
    }
  }
  t.strictSame(wrong, [], 'every line as expected')
  t.strictSame(leftToJavaScript, [], 'the fast path takes every line of a counter, timer, histogram, distribution and gauge')
  t.ok(lines > 2000, `${lines} lines`)
})

t.test('a timestamp, in every position: a point at that time, not part of the interval', async (t) => {
  for (const order of permutations([RATE, TAGS, 'c:abc', 'T1700000000'])) {
    const line = `dd.ts:5|c|${order.join('|')}`
    t.strictSame(parse(t, line), [['T', 'dd.ts;env=prod;solo;url=http--x=y;a=b', MetricType.Counter, 5, 0.5, 1700000000]], line)
    t.equal(handed, 0, `${line}: read by the fast path`)
  }
  t.strictSame(
    parse(t, 'a:1|c:2|ms|T1700000000'),
    [
      ['T', 'a', MetricType.Counter, 1, 1, 1700000000],
      ['T', 'a', MetricType.Timer, 2, 1, 1700000000],
    ],
    'every value of the line, typed (the aggregator refuses timers)',
  )
  t.strictSame(
    parse(t, 'g:+3|g|T1700000000\ng:7|g|T1700000000\ns:u|s|T1700000000'),
    [
      ['T', 'g', MetricType.Gauge, 3, 1, 1700000000],
      ['T', 'g', MetricType.Gauge, 7, 0, 1700000000],
      ['T', 's', MetricType.Set, 0, 0, 1700000000],
    ],
    'a gauge delta is flagged; a set has no value',
  )
  t.equal(handed, 'addon' in native ? 1 : 0, 'the fast path reads the gauges, JavaScript the set')
  t.strictSame(
    parse(t, 'a:x|c:2|ms|T1700000000'),
    [
      ['bad', 'a:x|c:2|ms|T1700000000', 'bad value'],
      ['T', 'a', MetricType.Timer, 2, 1, 1700000000],
    ],
    'bad values stay bad lines',
  )
  for (const bad of ['T', 'T-5', 'T17x', 'T0', 'T1234567890123']) {
    const line = `a:1|c|${bad}`
    t.strictSame(parse(t, line), [['bad', line, 'bad timestamp']], line)
  }
})

t.test('rates and unknown fields', async (t) => {
  t.strictSame(parse(t, 'x:1|c|#env:prod|@0.5'), [['c', 'x;env=prod', 1, 0.5]], 'a rate after the tags')
  t.strictSame(parse(t, 'x:1|c|@0.5|@0.25'), [['c', 'x', 1, 0.25]], 'the last rate')
  t.strictSame(parse(t, 'x:1|c|@2|#a'), [['bad', 'x:1|c|@2|#a', 'bad sample rate']])
  t.strictSame(parse(t, 'x:1|c|#a|@0'), [['bad', 'x:1|c|#a|@0', 'bad sample rate']])
  t.strictSame(parse(t, 'x:1|c|0.5'), [['bad', 'x:1|c|0.5', 'bad sample rate']], 'a bare number where Etsy reads the rate')
  t.strictSame(parse(t, 'x:1|c|#a|0.5'), [['bad fields', 1], ['c', 'x;a', 1, 1]], 'elsewhere it is an unknown field')
  t.strictSame(parse(t, 'x:1|c|card:extreme|q|'), [['bad fields', 3], ['c', 'x', 1, 1]], 'an unknown cardinality, an unknown field, an empty one')
  t.strictSame(parse(t, 'x:1|c|#a:b|#c:d'), [['bad fields', 1], ['c', 'x;a=b', 1, 1]], 'a second tag block is ignored (Etsy reads the first)')
  t.strictSame(parse(t, 'x:1|c|@0.5:2|ms|#t'), [['c', 'x;t', 1, 0.5], ['ms', 'x;t', 2, 1]], "Etsy's several values per line still work")
  t.strictSame(parse(t, 'x:1|c|#a\r\ny:2|c|c:z\r\n'), [['c', 'x;a', 1, 1], ['c', 'y', 2, 1]], 'CRLF')
})

t.test('tags: commas, tags without a value, values holding ":" or "="', async (t) => {
  // The first ":" of a tag becomes "="; sanitising then drops any other ":" (as in Etsy).
  t.strictSame(parse(t, 'x:1|c|#k:v:w,flag,e=mc2,,k2:'), [['c', 'x;k=vw;flag;e=mc2;k2=', 1, 1]])
})

t.test('events and service checks are never metrics', async (t) => {
  const event = '_e{5,4}:title|text|d:1700000000|h:host|p:low|t:info|#env:prod'
  const check = '_sc|db.up|0|d:1700000000|h:host|#env:prod|m:all good'
  t.strictSame(parse(t, `${event}\n${check}\n_e{3,4}:1|c|@0.5`), [['event', event], ['check', check], ['event', '_e{3,4}:1|c|@0.5']])
  // The fast path reads this one's fields before it finds its key is an event's: JavaScript then reads it all, once.
  const fielded = '_e{3,4}:1|c|zz|T1700000000|#a'
  t.strictSame(parse(t, `${fielded}\nx:1|c|zz`), [['event', fielded], ['bad fields', 1], ['c', 'x', 1, 1]], 'no field of an event counted')
})

t.test("issue 28's lines make no series they do not name, through both parsers", async (t) => {
  const RECENT = Math.floor(Date.now() / 1000) - 10
  const traffic = [
    '_e{5,4}:title|text|d:1700000000|h:host|p:low|t:info|#env:prod',
    '_sc|db.up|0|d:1700000000|h:host|#env:prod|m:all good',
    'dd.count:1|c|#env:prod|c:abc123',
    'dd.count:1|c|#env:prod|c:def456',
    'dd.card:1|c|#a:b|card:high',
    'x:1|c|#env:prod|@0.5',
    'dd.ts:5|c|T1700000000',
    `dd.ts.recent:5|c|T${RECENT}`,
    'dd.ext:3|c|e:it-false,cn-nginx,pu-123',
    'dd.dist:12|d|#env:prod',
    'dd.dist:13|d|#env:prod',
    'plain.hist:5|h',
    'plain.timer:5|ms',
    'dd.odd:2|c|#env:prod|whatever:1|c:x',
  ].join('\n')
  for (const nativeParsing of [true, false]) {
    const cfg = configSchema.parse({ flushInterval: 1000, backends: [{ type: 'graphite', host: '127.0.0.1' }] })
    const aggregator = new Aggregator({ ...cfg, dumpMessages: false, nativeParsing }, silentLogger())
    aggregator.ingest(Buffer.from(traffic))
    const flush = aggregator.flush(Date.now())
    const names = [...flush.counters, ...flush.timers, ...flush.gauges, ...flush.sets]
      .map((m) => m.name)
      .filter((name) => !name.startsWith('statsd.'))
    t.strictSame(names.sort(), ['dd.card;a=b', 'dd.count;env=prod', 'dd.dist;env=prod', 'dd.ext', 'dd.odd;env=prod', 'plain.hist', 'plain.timer', 'x;env=prod'], `names (native ${nativeParsing})`)
    const counter = (name: string): number | undefined => flush.counters.find((c) => c.name === name)?.value
    t.equal(counter('dd.count;env=prod'), 2, 'one series for every container')
    t.equal(counter('x;env=prod'), 2, 'the rate after the tags')
    t.equal(counter('statsd.bad_lines_seen'), 0, 'no bad lines')
    t.equal(counter('statsd.metrics_received'), 14)
    t.strictSame(flush.points, [{ name: 'dd.ts.recent', timestamp: RECENT, kind: 'counter', value: 5 }], 'a recent timestamp is a point; 2023 is too old')
    t.strictSame(
      flush.timers.map((timer) => [timer.name, timer.histogram ?? false]),
      [
        ['dd.dist;env=prod', true],
        ['plain.hist', true],
        ['plain.timer', false],
      ],
      'a distribution is a timer that knows it came as one',
    )
    const self = Object.fromEntries(flush.selfMetrics.map((m) => [m.name, m.value]))
    t.strictSame(
      [self.bad_fields, self.timestamped_points, self.timestamped_dropped, self.events_received, self.service_checks_received],
      [1, 1, 1, 1, 1],
      'bad_fields, timestamped_points, timestamped_dropped, events_received, service_checks_received',
    )
  }
})
