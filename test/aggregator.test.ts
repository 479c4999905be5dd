import pino from 'pino'
import t from 'tap'
import { Aggregator, type AggregatorConfig } from '../src/aggregate/aggregator'
import { GraphiteFormatter, type GraphiteNaming } from '../src/backends/graphite-format'
import { configSchema, type GraphiteBackendConfig } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { stableValues } from './helpers/graphite-lines'

const NOW = 1_700_000_000_000

function setup(overrides: Partial<AggregatorConfig> = {}, naming: Partial<GraphiteNaming> = {}, log = silentLogger()) {
  const defaults = configSchema.parse({ flushInterval: 10_000, backends: [{ type: 'graphite', host: '127.0.0.1' }] })
  const cfg: AggregatorConfig = { ...defaults, dumpMessages: false, ...overrides }
  const aggregator = new Aggregator(cfg, log)
  const formatter = new GraphiteFormatter({
    ...(defaults.backends[0] as GraphiteBackendConfig),
    prefixStats: cfg.prefixStats,
    flushCounts: true,
    sanitizeNames: !cfg.keyNameSanitize,
    ...naming,
  })
  let clock = NOW
  return {
    send: (...packets: string[]) => packets.forEach((p) => aggregator.ingest(Buffer.from(p))),
    flush: (): Map<string, string> => {
      const out = formatter.format(aggregator.flush(clock), Date.now())
      clock += cfg.flushInterval
      return stableValues(out)
    },
  }
}

t.test('legacy namespace: every type, exact lines', async (t) => {
  const s = setup()
  s.send('hits:1|c\nhits:2|c|@0.5', 'lat:100|ms:200|ms', 'temp:20|g\ntemp:+5|g', 'users:alice|s\nusers:bob|s\nusers:alice|s', 'junk')
  t.same(
    [...s.flush()],
    [
      ['stats.statsd.bad_lines_seen', '0.1'],
      ['stats_counts.statsd.bad_lines_seen', '1'],
      ['stats.statsd.packets_received', '0.5'],
      ['stats_counts.statsd.packets_received', '5'],
      ['stats.statsd.metrics_received', '0.9'],
      ['stats_counts.statsd.metrics_received', '9'],
      ['stats.hits', '0.5'],
      ['stats_counts.hits', '5'],
      ['stats.timers.lat.count_90', '2'],
      ['stats.timers.lat.mean_90', '150'],
      ['stats.timers.lat.upper_90', '200'],
      ['stats.timers.lat.sum_90', '300'],
      ['stats.timers.lat.sum_squares_90', '50000'],
      ['stats.timers.lat.std', '50'],
      ['stats.timers.lat.upper', '200'],
      ['stats.timers.lat.lower', '100'],
      ['stats.timers.lat.count', '2'],
      ['stats.timers.lat.count_ps', '0.2'],
      ['stats.timers.lat.sum', '300'],
      ['stats.timers.lat.sum_squares', '50000'],
      ['stats.timers.lat.mean', '150'],
      ['stats.timers.lat.median', '150'],
      ['stats.gauges.temp', '25'],
      ['stats.sets.users.count', '2'],
      ['statsd.numStats', '7'],
    ],
  )
})

t.test('idle flush: counters 0, timers count only, sets 0, gauges persist, timestamp_lag appears', async (t) => {
  const s = setup()
  s.send('c:3|c', 't:1|ms', 'g:9|g', 'u:x|s')
  s.flush()
  const idle = s.flush()
  t.equal(idle.get('stats.c'), '0')
  t.equal(idle.get('stats_counts.c'), '0')
  t.same([...idle.keys()].filter((k) => k.startsWith('stats.timers.t.')), ['stats.timers.t.count', 'stats.timers.t.count_ps'])
  t.equal(idle.get('stats.timers.t.count'), '0')
  t.equal(idle.get('stats.gauges.g'), '9')
  t.equal(idle.get('stats.sets.u.count'), '0')
  t.equal(idle.get('stats.gauges.statsd.timestamp_lag'), '0')
})

t.test('deleteIdleStats: idle metrics disappear, internal counters stay', async (t) => {
  const s = setup({ deleteIdleStats: true })
  s.send('c:3|c', 't:1|ms', 'g:9|g', 'u:x|s')
  const first = s.flush()
  t.ok(first.has('stats.c') && first.has('stats.timers.t.count') && first.has('stats.gauges.g') && first.has('stats.sets.u.count'))
  const idle = s.flush()
  t.same(
    [...idle.keys()].filter((k) => /\.(c|t|g|u)(\.|$)/.test(k)),
    [],
    'no line for the idle metrics',
  )
  t.equal(idle.get('stats_counts.statsd.packets_received'), '0')
  t.equal(idle.get('statsd.numStats'), '4', '3 internal counters + timestamp_lag')
  s.send('c:1|c')
  t.equal(s.flush().get('stats_counts.c'), '1', 'a deleted counter comes back when sent again')
})

t.test('individual delete options and gaugesMaxTTL', async (t) => {
  const s = setup({ deleteGauges: true, gaugesMaxTTL: 2 })
  s.send('c:3|c', 'g:5|g')
  s.flush()
  const second = s.flush()
  t.equal(second.get('stats.c'), '0', 'counters still reset to 0')
  t.equal(second.get('stats.gauges.g'), '5', 'gauge kept for a second flush')
  t.notOk(s.flush().has('stats.gauges.g'), 'and deleted after gaugesMaxTTL flushes')
  s.send('g:+2|g')
  t.equal(s.flush().get('stats.gauges.g'), '2', 'a delta on a deleted gauge starts from nothing')
})

t.test('gauge deltas', async (t) => {
  const s = setup()
  s.send('g:-5|g')
  t.equal(s.flush().get('stats.gauges.g'), '-5', 'a first delta sets the gauge')
  s.send('g:+10|g\ng:-1.5|g')
  t.equal(s.flush().get('stats.gauges.g'), '3.5')
  s.send('g:0|g\ng:+1|g')
  t.equal(s.flush().get('stats.gauges.g'), '1')
})

t.test('sampled counters and timers use Etsy arithmetic', async (t) => {
  const s = setup({ flushInterval: 3000 })
  s.send('c:1|c|@0.3', 't:10|ms|@0.3')
  const out = s.flush()
  t.equal(out.get('stats_counts.c'), String(1 * (1 / 0.3)))
  t.equal(out.get('stats.c'), String((1 * (1 / 0.3)) / 3))
  t.equal(out.get('stats.timers.t.count'), String(1 / 0.3))
  t.equal(out.get('stats.timers.t.count_ps'), String(1 / 0.3 / 3))
})

t.test('new namespace with prefixes, suffix and tags', async (t) => {
  const s = setup(
    { prefixStats: 'mystatsd' },
    { legacyNamespace: false, globalPrefix: 'app', prefixCounter: 'cnt', prefixTimer: '', globalSuffix: 'host1' },
  )
  s.send('hits:2|c|#env:prod', 'lat;dc=eu:4|ms', 'g:1|g', 's:a|s')
  const out = s.flush()
  t.equal(out.get('app.cnt.hits.rate.host1;env=prod'), '0.2')
  t.equal(out.get('app.cnt.hits.count.host1;env=prod'), '2')
  t.equal(out.get('app.lat.mean.host1;dc=eu'), '4')
  t.equal(out.get('app.gauges.g.host1'), '1')
  t.equal(out.get('app.sets.s.count.host1'), '1')
  t.equal(out.get('app.cnt.mystatsd.bad_lines_seen.count.host1'), '0')
  t.equal(out.get('app.mystatsd.numStats.host1'), '7')
})

t.test('legacy namespace keeps tags after the suffix', async (t) => {
  const s = setup({}, { globalSuffix: 'h' })
  s.send('x:1|c|#a:b')
  const out = s.flush()
  t.equal(out.get('stats.x.h;a=b'), '0.1')
  t.equal(out.get('stats_counts.x.h;a=b'), '1')
  t.equal(out.get('statsd.numStats.h'), '4')
})

t.test('flushCounts: false drops stats_counts', async (t) => {
  const s = setup({}, { flushCounts: false })
  s.send('x:1|c')
  t.notOk([...s.flush().keys()].some((k) => k.startsWith('stats_counts.')))
})

t.test('keyNameSanitize: false keeps raw names in the aggregator, sanitised on the way to Graphite', async (t) => {
  const s = setup({ keyNameSanitize: false })
  s.send('a b/c:1|c')
  t.equal(s.flush().get('stats_counts.a_b-c'), '1')
})

t.test('bad lines are counted, good neighbours kept', async (t) => {
  const s = setup()
  s.send('a:1|c\n\u0000\u0001garbage\nb:x|c\na:1|c|@0\na:2|c')
  const out = s.flush()
  t.equal(out.get('stats_counts.statsd.bad_lines_seen'), '3')
  t.equal(out.get('stats_counts.a'), '3')
  t.equal(out.get('stats_counts.statsd.metrics_received'), '5')
})

/** A logger that keeps what it is given. */
function capturingLogger(): { log: ReturnType<typeof silentLogger>; entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => entries.push(JSON.parse(line) as Record<string, unknown>) })
  return { log, entries }
}

const noInfinityOrNaN = (out: Map<string, string>): string[] =>
  [...out].filter(([, v]) => /Infinity|NaN/.test(v)).map(([k, v]) => `${k} ${v}`)

t.test('a gauge or counter that would leave the finite numbers keeps its value; the line is bad', async (t) => {
  const { log, entries } = capturingLogger()
  const s = setup({}, {}, log)
  s.send('g:1e308|g', 'g:+1e308|g', 'g:-1e308|g\ng:-1e308|g\ng:-1e308|g')
  s.send('c:1e308|c\nc:1e308|c', 'c:1e308|c|@0.5', 'fresh:1|c|@1e-320')
  const out = s.flush()
  t.strictSame(noInfinityOrNaN(out), [])
  t.equal(out.get('stats.gauges.g'), '-1e+308', 'each overflowing delta left the gauge as it was')
  t.equal(out.get('stats_counts.c'), '1e+308')
  t.notOk(out.has('stats_counts.fresh'), 'a refused first value creates no counter')
  t.equal(out.get('stats_counts.statsd.bad_lines_seen'), '5')
  t.match(
    entries.filter((e) => e['msg'] === 'bad line dropped'),
    [
      { reason: 'result not finite', metric: 'g', value: 1e308 },
      { reason: 'result not finite', metric: 'g', value: -1e308 },
      { reason: 'result not finite', metric: 'c', value: 1e308 },
      { reason: 'result not finite', metric: 'c', value: 1e308 },
      { reason: 'result not finite', metric: 'fresh', value: 1 },
    ],
  )
})

t.test('timer statistics are never Infinity or NaN', async (t) => {
  const { log, entries } = capturingLogger()
  const s = setup({ percentThreshold: [90, -50] }, {}, log)
  // Its square overflows, so it could never be in sum_squares: a bad line.
  s.send('big:1e200|ms', 'big:1|ms')
  // Each square is finite, their sum is not: that statistic alone is left out.
  s.send('sq:1e154|ms\nsq:1.2e154|ms')
  const out = s.flush()
  t.strictSame(noInfinityOrNaN(out), [])
  t.equal(out.get('stats.timers.big.count'), '1')
  t.equal(out.get('stats_counts.statsd.bad_lines_seen'), '1')
  t.equal(out.get('stats.timers.sq.sum'), '2.2e+154')
  t.notOk(out.has('stats.timers.sq.sum_squares'))
  t.match(entries.find((e) => e['msg'] === 'statistics that are not finite numbers were not sent'), {
    metrics: ['sq.sum_squares_90', 'sq.sum_squares'],
  })
})

t.test('a counter rate that overflows over a short interval is not sent', async (t) => {
  const s = setup({ flushInterval: 1 })
  s.send('c:1e308|c')
  const out = s.flush()
  t.strictSame(noInfinityOrNaN(out), [])
  t.notOk(out.has('stats_counts.c'))
})

t.test('many keys survive cache growth and reuse', async (t) => {
  const s = setup()
  const lines: string[] = []
  for (let i = 0; i < 5000; i++) lines.push(`k${i}:${i}|c`)
  s.send(lines.join('\n'), lines.join('\n'))
  const out = s.flush()
  t.equal(out.get('stats_counts.k0'), '0')
  t.equal(out.get('stats_counts.k4999'), '9998')
  t.equal(out.get('statsd.numStats'), String(5000 + 3))
})

t.test('two flushes within one second get distinct timestamps (Graphite would keep only the second)', async (t) => {
  const aggregator = new Aggregator({ ...configSchema.parse({ flushInterval: 1000 }), dumpMessages: false }, silentLogger())
  aggregator.ingest(Buffer.from('a:1|c'))
  const first = aggregator.flush(NOW + 400)
  aggregator.ingest(Buffer.from('a:2|c'))
  const second = aggregator.flush(NOW + 450)
  t.equal(first.timestamp, NOW / 1000)
  t.equal(second.timestamp, NOW / 1000 + 1)
  t.equal(aggregator.flush(NOW + 2000).timestamp, NOW / 1000 + 2, 'and back on the clock once it catches up')
})

t.test('with sub-second intervals timestamps stay on the clock', async (t) => {
  const aggregator = new Aggregator({ ...configSchema.parse({ flushInterval: 100 }), dumpMessages: false }, silentLogger())
  t.equal(aggregator.flush(NOW).timestamp, NOW / 1000)
  t.equal(aggregator.flush(NOW + 100).timestamp, NOW / 1000)
})
