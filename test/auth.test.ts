import { Writable } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { Aggregator, type AggregatorConfig } from '../src/aggregate/aggregator'
import { lineWithTokenMasked, listenerMetricName, tokenPreview } from '../src/aggregate/auth/rejections'
import type { FlushData } from '../src/aggregate/flush-data'
import { configSchema } from '../src/config/schema'
import { IngestCounters } from '../src/core/ingest-counters'
import { PacketQueue } from '../src/queue/queue'

/*
 * Token authentication at key resolution: which lines of a packet count,
 * per listener policy, the per-listener figures, what the logs may show,
 * and tokens changed while running.
 */

const UDP = 0 // auth: token
const UNIX = 1 // auth: none
const TCP = 2 // auth: token

function setup(overrides: Partial<AggregatorConfig> = {}) {
  const defaults = configSchema.parse({
    listeners: [
      { type: 'udp', port: 0, auth: 'token' },
      { type: 'unix', path: '/tmp/x.sock' },
      { type: 'tcp', port: 0, auth: 'token' },
    ],
    auth: { tokens: { good: true, other: true, gone: false, validtoken: true } },
  })
  const logs: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    },
  })
  const cfg: AggregatorConfig = { ...defaults, dumpMessages: false, ...overrides }
  const aggregator = new Aggregator(cfg, pino({ level: 'info' }, sink))
  aggregator.describeListeners(['udp 127.0.0.1:8126', 'unix /run/statsgod/statsgod.sock', 'tcp 127.0.0.1:8125'])
  let clock = 1_700_000_000_000
  return {
    aggregator,
    logs,
    send: (source: number, text: string) => aggregator.ingest(Buffer.from(text), source),
    flush: (): FlushData => aggregator.flush((clock += 10_000)),
  }
}

const counters = (data: FlushData) => Object.fromEntries(data.counters.map((c) => [c.name, c.value]))
const selfMetrics = (data: FlushData) => Object.fromEntries(data.selfMetrics.map((m) => [m.name, m.value]))

t.test('valid, missing, unknown and revoked tokens in one packet: only the valid lines count', async (t) => {
  const s = setup()
  s.send(UDP, 'good.api.requests:1|c\napi.requests:10|c\nnope.api.requests:100|c\ngone.api.requests:1000|c\ngood.api.requests:2|c\nother.lat:5|ms\ngood:1|c\n.x:1|c')
  const data = s.flush()
  t.equal(counters(data)['api.requests'], 3, 'the token is stripped; refused lines add nothing')
  t.same(data.timers.map((x) => x.name), ['lat'])
  t.equal(counters(data)['statsd.bad_lines_seen'], 0, 'refused lines are not bad lines')
  t.equal(counters(data)['statsd.metrics_received'], 8)
  t.same(selfMetrics(data), {
    'auth.udp_8126.rejected_lines': 5,
    'auth.udp_8126.missing_token': 2, // "good" alone, ".x"
    'auth.udp_8126.unknown_token': 2, // "api" (no token: its first segment is taken as one), "nope"
    'auth.udp_8126.revoked_token': 1,
    'auth.tcp_8125.rejected_lines': 0,
    'auth.tcp_8125.missing_token': 0,
    'auth.tcp_8125.unknown_token': 0,
    'auth.tcp_8125.revoked_token': 0,
    bad_fields: 0,
    timestamped_points: 0,
    timestamped_dropped: 0,
    events_received: 0,
    service_checks_received: 0,
    events_rate_limited: 0,
    service_checks_rate_limited: 0,
  })
  t.same(selfMetrics(s.flush())['auth.udp_8126.rejected_lines'], 0, 'figures are per interval, zeros included')
})

t.test('a token listener takes no DogStatsD event or service check (they carry no token)', async (t) => {
  const s = setup()
  s.send(UDP, '_e{2,1}:hi|x\n_sc|db|0')
  s.send(UNIX, '_e{2,1}:hi|x\n_sc|db|0')
  const m = selfMetrics(s.flush())
  t.equal(m['auth.udp_8126.missing_token'], 2)
  t.equal(m.events_received, 1, 'from the trusted listener')
  t.equal(m.service_checks_received, 1)
})

t.test('per-listener policy: the same bytes are checked on a token listener and trusted on another', async (t) => {
  const s = setup()
  const packet = 'good.hits:1|c\nhits:1|c\n'
  s.send(UDP, packet)
  s.send(UNIX, packet)
  s.send(TCP, packet)
  const c = counters(s.flush())
  t.equal(c['hits'], 3, 'one valid line from each token listener, plus the trusted "hits"')
  t.equal(c['good.hits'], 1, 'the trusted listener keeps the whole name')
  t.equal(c['statsd.bad_lines_seen'], 0)
})

t.test('a refused line counts once even with several values, bad ones included', async (t) => {
  const s = setup()
  s.send(TCP, 'nope.a:1|c:2|c:x|c\ngood.a:1|c:bad|c\n')
  const data = s.flush()
  t.equal(selfMetrics(data)['auth.tcp_8125.unknown_token'], 1)
  t.equal(counters(data)['a'], 1)
  t.equal(counters(data)['statsd.bad_lines_seen'], 1, 'the bad value of the valid line is still a bad line')
})

t.test('logs show at most 4 characters of a token, rate-limited per flush', async (t) => {
  const s = setup({ dumpMessages: true })
  const secret = 'supersecrettoken'
  for (let i = 0; i < 30; i++) s.send(UDP, `${secret}.m${i}:1|c\n`)
  s.send(TCP, 'validtoken.z:1|q\n')
  s.flush()
  const text = JSON.stringify(s.logs)
  t.notMatch(text, /supe(rsecret|rs)/, 'no more than 4 characters of a refused token')
  t.notMatch(text, /validt/, 'nor of a valid token in a bad line or a dumped line')
  const refused = s.logs.filter((l) => l.msg === 'line refused by token authentication')
  t.equal(refused.length, 20, 'at most 20 per flush interval')
  t.match(refused[0], { listener: 'udp 127.0.0.1:8126', reason: 'unknown_token', key: 'supe….m0' })
  t.match(s.logs.find((l) => l.msg === 'more lines refused by token authentication than were logged'), { count: 10 })
  t.match(s.logs.find((l) => l.msg === 'bad line dropped'), { line: '"vali….z:1|q"' })
})

t.test('token helpers', async (t) => {
  t.equal(tokenPreview('abc'), 'abc')
  t.equal(tokenPreview('abcdef'), 'abcd…')
  t.equal(lineWithTokenMasked(Buffer.from('abcdef.x:1|c'), 0, 12), 'abcd….x:1|c')
  t.equal(lineWithTokenMasked(Buffer.from('nodot:1|c'), 0, 9), 'nodot:1|c', 'no token: nothing to mask')
  t.equal(listenerMetricName('udp [::1]:8125'), 'udp_8125')
  t.equal(listenerMetricName('unix /var/run/statsgod/statsgod.sock'), 'unix_statsgod_sock')
})

t.test('tokens changed while running take effect at the next flush, without losing what was received', async (t) => {
  const s = setup()
  s.send(UDP, 'good.n:1|c\nnew.n:1|c\n')
  s.aggregator.reconfigure({ ...s.aggregator['cfg'], auth: { tokens: { new: true, good: false } } })
  s.send(UDP, 'good.n:1|c\n')
  const first = s.flush()
  t.equal(counters(first)['n'], 2, 'the interval in progress is checked with the old tokens')
  s.send(UDP, 'good.n:1|c\nnew.n:5|c\n')
  const second = s.flush()
  t.equal(counters(second)['n'], 5, 'then the new ones apply (cached answers are dropped)')
  t.equal(selfMetrics(second)['auth.udp_8126.revoked_token'], 1)
})

t.test("the queue keeps each packet's listener, across ring growth", async (t) => {
  const queue = new PacketQueue({ maxBytes: 1 << 20, maxPackets: 10_000 }, new IngestCounters())
  for (let i = 0; i < 3000; i++) queue.push(Buffer.from(`p${i}`), i % 3)
  let wrong = 0
  for (let i = 0; i < 3000; i++) {
    const packet = queue.shift()!
    if (packet.toString() !== `p${i}` || queue.shiftedSource !== i % 3) wrong++
  }
  t.equal(wrong, 0)
})
