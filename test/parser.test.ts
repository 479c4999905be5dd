import t from 'tap'
import { type BadLineReason, DogStatsdLine, MetricType, PacketParser, type ParseSink } from '../src/parse/packet-parser'
import { buildKeyName, sanitizeKeyName } from '../src/parse/key-name'
import { seededRandom } from './helpers/random'

type Event =
  | ['counter' | 'timer', string, number, number]
  | ['gauge', string, number, boolean]
  | ['set', string, string]
  | ['bad', string, BadLineReason]
  | ['fields', string, number]
  | ['event' | 'check', string]
  | ['T', string, MetricType, number, number, number]

class Recorder implements ParseSink<string> {
  events: Event[] = []
  lines = 0
  onLine(): void {
    this.lines++
  }
  onBadLine(buf: Buffer, start: number, end: number, reason: BadLineReason): void {
    this.events.push(['bad', buf.toString('latin1', start, end), reason])
  }
  resolveKey(buf: Buffer, ks: number, ke: number, ts: number, te: number): string | null {
    const name = buildKeyName(buf, ks, ke, ts, te, true)
    return name === '' ? null : name
  }
  onEventLine(buf: Buffer, start: number, end: number, kind: DogStatsdLine): void {
    this.events.push([kind === DogStatsdLine.Event ? 'event' : 'check', buf.toString('latin1', start, end)])
  }
  onBadFields(buf: Buffer, start: number, end: number, count: number): void {
    this.events.push(['fields', buf.toString('latin1', start, end), count])
  }
  onTimestamped(key: string, type: MetricType, value: number, extra: number, timestamp: number): void {
    this.events.push(['T', key, type, value, extra, timestamp])
  }
  onCounter(key: string, value: number, rate: number): void {
    this.events.push(['counter', key, value, rate])
  }
  onTimer(key: string, value: number, rate: number): void {
    this.events.push(['timer', key, value, rate])
  }
  onGauge(key: string, value: number, isDelta: boolean): void {
    this.events.push(['gauge', key, value, isDelta])
  }
  onSet(key: string, buf: Buffer, start: number, end: number): void {
    this.events.push(['set', key, buf.toString('latin1', start, end)])
  }
}

function parse(packet: string | Buffer): Recorder {
  const sink = new Recorder()
  new PacketParser(sink).parse(typeof packet === 'string' ? Buffer.from(packet) : packet)
  return sink
}

t.equal(MetricType.Counter, 0)

t.test('each metric type', async (t) => {
  t.same(parse('a:1|c').events, [['counter', 'a', 1, 1]])
  t.same(parse('a:2.5|ms').events, [['timer', 'a', 2.5, 1]])
  t.same(parse('a:7|h\nb:8|d').events, [['timer', 'a', 7, 1], ['timer', 'b', 8, 1]])
  t.same(parse('a:-3|g').events, [['gauge', 'a', -3, true]])
  t.same(parse('a:+3|g').events, [['gauge', 'a', 3, true]])
  t.same(parse('a:3|g').events, [['gauge', 'a', 3, false]])
  t.same(parse('a:xyz|s').events, [['set', 'a', 'xyz']])
  t.same(parse('a:|s').events, [['set', 'a', '']])
})

t.test('sample rates', async (t) => {
  t.same(parse('a:1|c|@0.1').events, [['counter', 'a', 1, 0.1]])
  t.same(parse('a:1|c|@1').events, [['counter', 'a', 1, 1]])
  t.same(
    parse('a:1|ms|@0.5|extra').events,
    [
      ['fields', 'a:1|ms|@0.5|extra', 1],
      ['timer', 'a', 1, 0.5],
    ],
    'an unknown field after the rate is ignored, as in Etsy, and counted',
  )
  t.same(parse('a:1|c|@2e-1').events, [['counter', 'a', 1, 0.2]], 'exponent read as a real number (Etsy: 2)')
  t.same(parse('a:1|c|@+0.5').events, [['counter', 'a', 1, 0.5]], 'Etsy crashes on this')
  for (const bad of ['a:1|c|@0', 'a:1|c|@2', 'a:1|c|@-0.5', 'a:1|c|@', 'a:1|c|0.5', 'a:1|c|', 'a:1|c|@x', 'a:1|c|@NaN']) {
    t.same(parse(bad).events, [['bad', bad, 'bad sample rate']], bad)
  }
})

t.test('several lines and several values per line', async (t) => {
  const r = parse('a:1|c:2|c\n\nb:3|ms:4|ms\r\nc:5|g\n')
  t.equal(r.lines, 3, 'empty lines are not metrics')
  t.same(r.events, [
    ['counter', 'a', 1, 1],
    ['counter', 'a', 2, 1],
    ['timer', 'b', 3, 1],
    ['timer', 'b', 4, 1],
    ['gauge', 'c', 5, false],
  ])
})

t.test('bad values are counted one by one and never spoil good ones', async (t) => {
  const r = parse('a:1|c:x|c:3|zz:|c:4\nnovalue\nk:-1|ms\nk:1|ms\nn:0x10|c\n:1|c\n!!!:1|c')
  t.same(r.events, [
    ['counter', 'a', 1, 1],
    ['bad', 'a:1|c:x|c:3|zz:|c:4', 'bad value'],
    ['bad', 'a:1|c:x|c:3|zz:|c:4', 'unknown type'],
    ['bad', 'a:1|c:x|c:3|zz:|c:4', 'bad value'],
    ['bad', 'a:1|c:x|c:3|zz:|c:4', 'no type'],
    ['bad', 'novalue', 'no value'],
    ['bad', 'k:-1|ms', 'negative timer'],
    ['timer', 'k', 1, 1],
    ['bad', 'n:0x10|c', 'bad value'],
    ['bad', ':1|c', 'empty key'],
    ['bad', '!!!:1|c', 'empty key'],
  ])
})

t.test('type field is trimmed as in Etsy', async (t) => {
  t.same(parse('a:1| ms \nb:2|c ').events, [['timer', 'a', 1, 1], ['counter', 'b', 2, 1]])
})

t.test('DogStatsD tags become Graphite tags', async (t) => {
  t.same(parse('req:1|c|#env:prod,region:eu').events, [['counter', 'req;env=prod;region=eu', 1, 1]])
  t.same(parse('req:1|c|@0.5|#env:prod').events, [['counter', 'req;env=prod', 1, 0.5]])
  t.same(parse('req:1|c|#a;b;c:d,,solo,').events, [['counter', 'req;a_b_c=d;solo', 1, 1]], 'every ";" in a tag, empty tags skipped')
  t.same(
    parse('req:1|c|#a:b|#ignored:x').events,
    [
      ['fields', 'req:1|c|#a:b|#ignored:x', 1],
      ['counter', 'req;a=b', 1, 1],
    ],
    'only the first tag block counts (Etsy split); another is an unknown field',
  )
  t.same(parse('req;env=prod:1|c').events, [['counter', 'req;env=prod', 1, 1]], 'Graphite-style tags are kept')
  t.same(parse('t:5|ms|#url:http://x').events, [['timer', 't;url=http--x', 5, 1]], 'only the first colon of a tag becomes "="')
})

t.test('key sanitising matches Etsy', async (t) => {
  t.equal(sanitizeKeyName('a b\t\tc/d\\e#f@g;h=i-j_k.l'), 'a_b_c-defg;h=i-j_k.l')
  t.equal(sanitizeKeyName('caf\u00e9 \u00a0bar'), 'caf_bar', 'unicode whitespace is whitespace, other non-ASCII dropped')
  t.same(parse('my key/path:1|c').events, [['counter', 'my_key-path', 1, 1]])
})

t.test('binary garbage never throws', async (t) => {
  const random = seededRandom(42)
  let lostGoodLines = 0
  for (let i = 0; i < 2000; i++) {
    const bytes = Buffer.alloc(Math.floor(random() * 300))
    for (let j = 0; j < bytes.length; j++) bytes[j] = random() < 0.3 ? ':|@#\n.-+e0123456789cmsgh'.charCodeAt(Math.floor(random() * 25)) : Math.floor(random() * 256)
    const r = parse(Buffer.concat([bytes, Buffer.from('\ngood:1|c\n')]))
    const last = r.events.at(-1)
    if (!(last?.[0] === 'counter' && last[1] === 'good' && last[2] === 1)) lostGoodLines++
  }
  t.equal(lostGoodLines, 0, 'the good line after the garbage always counts')
})
