import path from 'node:path'
import t, { type Test } from 'tap'
import { startFakeGraphite } from './helpers/fake-graphite'
import { stableValues } from './helpers/graphite-lines'
import { ipv6Unavailable, sendStream, sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * The real server process on loopback ports, real packets over UDP (v4 and
 * v6), TCP and a Unix socket, and real Graphite plaintext read back from a
 * local TCP listener.
 */

async function startServer(t: Test, config: object | string, fileName?: string): Promise<ServerProcess> {
  const server = await ServerProcess.start(t.testdir(), config, fileName)
  t.teardown(() => server.kill())
  return server
}

/** Everything a flush should contain, as [name, value] pairs, excluding timing lines. */
function withoutPacketCounts(values: Map<string, string>): Map<string, string> {
  // How many packets a stream makes depends on how TCP chunks the bytes; checked separately.
  const copy = new Map(values)
  for (const k of [...copy.keys()]) if (k.includes('packets_received')) copy.delete(k)
  return copy
}

t.test('legacy namespace: every metric type over UDP, TCP and a Unix socket', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const v6 = (await ipv6Unavailable()) === false
  const dir = shortTempDir(t)
  const server = await startServer(t, {
    listeners: [
      { type: 'udp', address: '127.0.0.1', port: 0 },
      ...(v6 ? [{ type: 'udp', address: '::1', port: 0 }] : []),
      { type: 'tcp', address: '127.0.0.1', port: 0 },
      { type: 'unix', path: path.join(dir, 'statsd.sock') },
    ],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 60_000,
    percentThreshold: [90, 99.9, -10],
    histogram: [{ metric: 'lat', bins: [10, 100, 'inf'] }],
  })
  const { udp, tcp, unix } = server.endpoints
  t.equal(udp.length, v6 ? 2 : 1)

  await sendUdp(udp[0]!, ['c.udp:1|c\nc.shared:2|c|@0.5\nt.lat:10|ms\nt.lat:20|ms|@0.5\ns.users:alice|s\nlong.name with/odd chars!:1|c'])
  if (v6) await sendUdp(udp[1]!, ['c.v6:3|c'])
  // Split mid-line on purpose; the last line has no newline (Etsy would lose it).
  await sendStream(tcp[0]!, ['c.shared:1|c\nt.lat:30|ms:40', '|ms\ng.temp:50|g\ng.temp:-8|g\ns.users:alice|s\ns.users:carol|s\n', 'tagged:1|c|#env:prod,dc:eu\nfinal.no.newline:7|c'])
  await sendStream(unix[0]!, ['c.unix:5|c\nt.lat:100|ms\nbad line here\nx:1|c|@0\ng2:+3|g\n'])

  t.equal(await server.stop(), 0, 'clean exit after SIGTERM')
  t.equal(graphite.flushes.length, 1, 'one final flush')
  const out = stableValues(graphite.flushes[0]!)
  const lines = 19 + (v6 ? 1 : 0)
  const expected = new Map<string, string>([
    ['stats.statsd.bad_lines_seen', String(2 / 60)],
    ['stats_counts.statsd.bad_lines_seen', '2'],
    ['stats.statsd.metrics_received', String(lines / 60)],
    ['stats_counts.statsd.metrics_received', String(lines)],
    ['stats.c.udp', String(1 / 60)],
    ['stats_counts.c.udp', '1'],
    ['stats.c.shared', String(5 / 60)],
    ['stats_counts.c.shared', '5'],
    ['stats.long.name_with-odd_chars', String(1 / 60)],
    ['stats_counts.long.name_with-odd_chars', '1'],
    ...(v6 ? ([['stats.c.v6', String(3 / 60)], ['stats_counts.c.v6', '3']] as [string, string][]) : []),
    ['stats.tagged;env=prod;dc=eu', String(1 / 60)],
    ['stats_counts.tagged;env=prod;dc=eu', '1'],
    ['stats.final.no.newline', String(7 / 60)],
    ['stats_counts.final.no.newline', '7'],
    ['stats.c.unix', String(5 / 60)],
    ['stats_counts.c.unix', '5'],
    ['stats.timers.t.lat.count_90', '5'],
    ['stats.timers.t.lat.mean_90', '40'],
    ['stats.timers.t.lat.upper_90', '100'],
    ['stats.timers.t.lat.sum_90', '200'],
    ['stats.timers.t.lat.sum_squares_90', '13000'],
    ['stats.timers.t.lat.count_99_9', '5'],
    ['stats.timers.t.lat.mean_99_9', '40'],
    ['stats.timers.t.lat.upper_99_9', '100'],
    ['stats.timers.t.lat.sum_99_9', '200'],
    ['stats.timers.t.lat.sum_squares_99_9', '13000'],
    ['stats.timers.t.lat.count_top10', '1'],
    ['stats.timers.t.lat.mean_top10', '100'],
    ['stats.timers.t.lat.lower_top10', '100'],
    ['stats.timers.t.lat.sum_top10', '100'],
    ['stats.timers.t.lat.sum_squares_top10', '10000'],
    ['stats.timers.t.lat.std', String(Math.sqrt(1000))],
    ['stats.timers.t.lat.upper', '100'],
    ['stats.timers.t.lat.lower', '10'],
    ['stats.timers.t.lat.count', '6'],
    ['stats.timers.t.lat.count_ps', '0.1'],
    ['stats.timers.t.lat.sum', '200'],
    ['stats.timers.t.lat.sum_squares', '13000'],
    ['stats.timers.t.lat.mean', '40'],
    ['stats.timers.t.lat.median', '30'],
    ['stats.timers.t.lat.histogram.bin_10', '0'],
    ['stats.timers.t.lat.histogram.bin_100', '4'],
    ['stats.timers.t.lat.histogram.bin_inf', '1'],
    ['stats.gauges.g.temp', '42'],
    ['stats.gauges.g2', '3'],
    ['stats.sets.s.users.count', '2'],
    ['statsd.numStats', String(13 + (v6 ? 1 : 0))],
  ])
  t.same(Object.fromEntries(withoutPacketCounts(out)), Object.fromEntries(expected))
  // One datagram per UDP packet; each stream chunk holding whole lines is one packet, plus a final partial line.
  t.ok(Number(out.get('stats_counts.statsd.packets_received')) >= 4 + (v6 ? 1 : 0))
  t.match(graphite.flushes[0], /^stats\.statsd\.graphiteStats\.calculationtime \d+ \d+$/m)
  t.match(graphite.flushes[0], /^stats\.statsd\.processing_time \d+ \d+$/m)
  t.match(graphite.flushes[0], /^stats\.statsd\.graphiteStats\.last_flush \d+ \d+$/m)
  t.match(graphite.flushes[0], /^stats\.statsd\.graphiteStats\.last_exception 0 \d+$/m, 'no failure yet: 0, as in Etsy')
  t.match(graphite.flushes[0], /^stats\.statsd\.graphiteStats\.flush_length \d+ \d+$/m)
})

t.test('new namespace with prefixes, suffix and prefixStats', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const server = await startServer(t, {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [
      {
        type: 'graphite',
        host: '127.0.0.1',
        port,
        legacyNamespace: false,
        globalPrefix: 'app',
        prefixCounter: 'cnt',
        prefixTimer: 'tim',
        prefixGauge: 'gau',
        prefixSet: 'set',
        globalSuffix: 'h1',
      },
    ],
    prefixStats: 'sd',
    flushInterval: 10_000,
  })
  await sendUdp(server.endpoints.udp[0]!, ['hits:4|c|#env:prod\nlat:7|ms\ntemp:3|g\nvisitors:v1|s'])
  t.equal(await server.stop(), 0)
  const out = stableValues(graphite.flushes[0]!)
  t.same(Object.fromEntries(withoutPacketCounts(out)), {
    'app.cnt.sd.bad_lines_seen.rate.h1': '0',
    'app.cnt.sd.bad_lines_seen.count.h1': '0',
    'app.cnt.sd.metrics_received.rate.h1': '0.4',
    'app.cnt.sd.metrics_received.count.h1': '4',
    'app.cnt.hits.rate.h1;env=prod': '0.4',
    'app.cnt.hits.count.h1;env=prod': '4',
    'app.tim.lat.count_90.h1': '1',
    'app.tim.lat.mean_90.h1': '7',
    'app.tim.lat.upper_90.h1': '7',
    'app.tim.lat.sum_90.h1': '7',
    'app.tim.lat.sum_squares_90.h1': '49',
    'app.tim.lat.std.h1': '0',
    'app.tim.lat.upper.h1': '7',
    'app.tim.lat.lower.h1': '7',
    'app.tim.lat.count.h1': '1',
    'app.tim.lat.count_ps.h1': '0.1',
    'app.tim.lat.sum.h1': '7',
    'app.tim.lat.sum_squares.h1': '49',
    'app.tim.lat.mean.h1': '7',
    'app.tim.lat.median.h1': '7',
    'app.gau.temp.h1': '3',
    'app.set.visitors.count.h1': '1',
    'app.sd.numStats.h1': '7',
  })
  t.equal(out.has('app.cnt.sd.packets_received.count.h1'), true)
  t.match(graphite.flushes[0], /^app\.sd\.graphiteStats\.last_exception\.h1 \d+ \d+$/m)
})

t.test('idle flushes: counters report 0, timers only count, sets 0, gauges persist', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const server = await startServer(t, {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 300,
  })
  // One datagram falls whole in one flush interval, whatever threads its lines go to.
  await sendUdp(server.endpoints.udp[0]!, ['idle.c:2|c\nidle.t:5|ms\nidle.g:3|g\nidle.s:a|s'])
  const busy = await graphite.waitForFlush((v) => v.get('stats_counts.idle.c') === '2')
  t.equal(busy.get('stats.timers.idle.t.mean'), '5')
  t.equal(busy.get('stats.gauges.idle.g'), '3')
  t.equal(busy.get('stats.sets.idle.s.count'), '1')
  const idle = await graphite.nextFlush()
  t.equal(idle.get('stats_counts.idle.c'), '0')
  t.equal(idle.get('stats.idle.c'), '0')
  t.same([...idle.keys()].filter((k) => k.startsWith('stats.timers.idle.t.')), ['stats.timers.idle.t.count', 'stats.timers.idle.t.count_ps'])
  t.equal(idle.get('stats.timers.idle.t.count'), '0')
  t.equal(idle.get('stats.gauges.idle.g'), '3')
  t.equal(idle.get('stats.sets.idle.s.count'), '0')
  t.ok(idle.has('stats.gauges.statsd.timestamp_lag'), 'timestamp_lag from the second flush on')
  t.equal(await server.stop(), 0)
})

t.test('deleteIdleStats from an Etsy config file: idle metrics are not sent', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const etsyConfig = `/* an Etsy statsd config, as it is */
{
  port: 0
, address: "127.0.0.1"
, graphiteHost: "127.0.0.1"
, graphitePort: ${port}
, flushInterval: 300
, deleteIdleStats: true
, mgmt_address: "127.0.0.1"
, mgmt_port: 0
, backends: [ "./backends/graphite" ]
}`
  const server = await startServer(t, etsyConfig, 'config.js')
  await sendUdp(server.endpoints.udp[0]!, ['gone.c:2|c\ngone.t:5|ms\ngone.g:3|g\ngone.s:a|s'])
  const busy = await graphite.waitForFlush((v) => v.get('stats_counts.gone.c') === '2')
  t.same(
    ['stats.timers.gone.t.mean', 'stats.gauges.gone.g', 'stats.sets.gone.s.count'].map((k) => busy.get(k)),
    ['5', '3', '1'],
    'the whole datagram in one flush',
  )
  const idle = await graphite.nextFlush()
  t.same([...idle.keys()].filter((k) => k.includes('gone.')), [], 'nothing about the idle metrics')
  t.equal(idle.get('stats_counts.statsd.metrics_received'), '0', 'internal counters are never deleted')
  t.equal(await server.stop(), 0)
})

t.test('a bad config file is refused with a clear message and exit code 78', async (t) => {
  await t.rejects(
    ServerProcess.start(t.testdir(), { listeners: [{ type: 'udp', port: 'eighty' }] }),
    /exited \(78\)/,
  )
})
