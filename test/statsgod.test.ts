import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { StatsgodTimerStats } from '../src/aggregate/statsgod-timer-stats'
import { TimerColumns } from '../src/aggregate/timer-columns'
import { ConfigError } from '../src/config/errors'
import { parseGoDuration } from '../src/config/formats/go-duration'
import { loadConfig } from '../src/config/load'
import { startFakeGraphite } from './helpers/fake-graphite'
import { graphiteValues } from './helpers/graphite-lines'
import { sendStream, sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * The statsgod drop-in: its config.yml read unchanged, its defaults, its
 * Graphite names and maths, end to end.
 */

/** A statsgod config.yml with every key statsgod reads. */
function everyKey(dir: string, carbonPort: number, relayType = 'carbon'): string {
  return `
service:
    name: "statsgod"
    debug: false
    auth: "token"
    tokens:
        "s3cr3t-token": true
        "old-token": false
    hostname: "test.host"
connection:
    tcp:
        enabled: true
        host: 127.0.0.1
        port: 0
    udp:
        enabled: true
        host: 127.0.0.1
        port: 0
        maxpacket: 2048
    unix:
        enabled: true
        file: ${path.join(dir, 'statsgod.sock')}
relay:
    type: ${relayType}
    concurrency: 1
    timeout: 5s
    flush: 1m
carbon:
    host: 127.0.0.1
    port: ${carbonPort}
namespace:
    prefix: "sg"
    prefixes:
        counters: "counts"
        gauges: "gauges"
        rates: "rates"
        sets: "sets"
        timers: "timers"
    suffix: "dc1"
    suffixes:
        counters: ""
        gauges: ""
        rates: ""
        sets: ""
        timers: "ms"
stats:
    percentile:
        - 50
        - 90
debug:
    verbose: false
    receipt: false
    profile: false
    relay: false
`
}

function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name)
  writeFileSync(file, text)
  return file
}

function configErrorOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('every key of a statsgod config.yml is read', async (t) => {
  const dir = shortTempDir(t)
  const { config, warnings } = loadConfig(write(dir, 'config.yml', everyKey(dir, 2003)))
  t.same(warnings, [])
  t.same(config.listeners, [
    { type: 'tcp', address: '127.0.0.1', port: 0, auth: 'token', maxLineBytes: 65536, idleTimeoutMs: 60000 },
    { type: 'udp', address: '127.0.0.1', port: 0, auth: 'token' },
    { type: 'unix', path: path.join(dir, 'statsgod.sock'), mode: '766', auth: 'token', maxLineBytes: 65536, idleTimeoutMs: 60000 },
  ])
  t.match(config.backends, [{ type: 'graphite', host: '127.0.0.1', port: 2003, timeoutMs: 5000 }])
  t.same(config.backends[0]!.type === 'graphite' && config.backends[0].statsgodNamespace, {
    prefix: 'sg',
    prefixes: { counters: 'counts', gauges: 'gauges', rates: 'rates', sets: 'sets', timers: 'timers' },
    suffix: 'dc1',
    suffixes: { counters: '', gauges: '', rates: '', sets: '', timers: 'ms' },
  })
  t.equal(config.flushInterval, 60_000)
  t.same(config.percentThreshold, [50, 90])
  t.equal(config.timerStatistics, 'statsgod')
  t.equal(config.deleteIdleStats, true, 'nothing is carried over between flushes')
  t.equal(config.prefixStats, 'statsgod.test-host', "statsgod's name for its own figures")
  t.same(config.auth.tokens, { 's3cr3t-token': true, 'old-token': false })
  t.match(config.log, { level: 'info', dumpMessages: false })

  const mock = loadConfig(write(dir, 'mock.yaml', everyKey(dir, 2003, 'mock') + 'extra: 1\n'))
  t.match(mock.config.backends, [{ type: 'console' }], 'relay.type mock: flushes go to the console')
  t.match(mock.warnings, [/extra: unknown key, ignored/])
})

t.test("an empty config.yml gives statsgod's defaults", async (t) => {
  const dir = shortTempDir(t)
  const { config } = loadConfig(write(dir, 'config.yml', '# nothing\n'))
  t.match(config.listeners, [
    { type: 'tcp', address: '127.0.0.1', port: 8125, auth: 'none' },
    { type: 'udp', address: '127.0.0.1', port: 8126, auth: 'none' },
    { type: 'unix', path: '/var/run/statsgod/statsgod.sock' },
  ])
  t.match(config.backends, [
    {
      type: 'graphite',
      host: '127.0.0.1',
      port: 2003,
      timeoutMs: 30_000,
      statsgodNamespace: { prefix: 'stats', prefixes: { counters: 'counts', rates: 'rates' }, suffix: '' },
    },
  ])
  t.equal(config.flushInterval, 10_000)
  t.same(config.percentThreshold, [80])
  t.same(config.auth.tokens, { 'token-name': false })
  t.same(loadConfig(write(dir, 'empty-list.yml', 'stats:\n  percentile: []\n')).config.percentThreshold, [80])
})

t.test('unknown keys are warnings; wrong types are errors naming the key', async (t) => {
  const dir = shortTempDir(t)
  const { warnings } = loadConfig(write(dir, 'a.yml', 'relay:\n  flsuh: 5s\n  concurrency: 4\nconnection:\n  udp:\n    mxapacket: 1\n'))
  t.match(warnings, [
    /a\.yml: relay\.flsuh: unknown key, ignored \(did you mean "flush"\?\)/,
    /connection\.udp\.mxapacket: unknown key/,
    /relay\.concurrency: ignored/,
  ])
  t.match(configErrorOf(() => loadConfig(write(dir, 'b.yml', 'connection:\n  udp:\n    port: "eighty"\n'))), /b\.yml: connection\.udp\.port: expected number, received string/)
  t.match(configErrorOf(() => loadConfig(write(dir, 'c.yml', 'service:\n  auth: tokens\n'))), /service\.auth: must be one of "none", "token"/)
  t.match(configErrorOf(() => loadConfig(write(dir, 'd.yml', 'relay:\n  flush: often\n'))), /relay\.flush: must be a duration/)
  t.match(configErrorOf(() => loadConfig(write(dir, 'e.yml', 'service:\n  tokens:\n    "a.b": true\n'))), /service\.tokens/)
  t.match(configErrorOf(() => loadConfig(write(dir, 'f.yml', 'stats:\n  percentile: 90\n'))), /stats\.percentile: expected array/)
  t.match(configErrorOf(() => loadConfig(write(dir, 'g.yml', 'service: [\n'))), /g\.yml: not valid YAML/)
  t.match(
    configErrorOf(() => loadConfig(write(dir, 'h.yml', 'connection:\n  tcp: {enabled: false}\n  udp: {enabled: false}\n  unix: {enabled: false}\n'))),
    /all disabled/,
  )
})

t.test('Go durations', async (t) => {
  t.equal(parseGoDuration('10s'), 10_000)
  t.equal(parseGoDuration('1m30s'), 90_000)
  t.equal(parseGoDuration('1.5h'), 5_400_000)
  t.equal(parseGoDuration('250ms'), 250)
  t.equal(parseGoDuration('0'), 0)
  t.equal(parseGoDuration('10'), null, 'a unit is required')
  t.equal(parseGoDuration('s'), null)
})

t.test("statsgod's timer maths", async (t) => {
  const statsOf = (pct: number[], values: number[], count: number, intervalMs: number): [string, number][] => {
    const calc = new StatsgodTimerStats(pct)
    const out = new TimerColumns(calc.statNames)
    calc.compute(Float64Array.from(values), count, intervalMs, null, out)
    out.endTimer('t')
    return out.stats(0)
  }
  t.same(statsOf([50, 90], [60, 10, 40, 20, 50, 30], 7, 60_000), [
    ['rate', 7 / 60],
    ['mean_value', 35],
    ['median_value', 35],
    ['max_value', 60],
    ['min_value', 10],
    // 50th percentile: 35, interpolated between 30 and 40; the values at or below it are 10, 20, 30.
    ['mean_50', 20],
    ['median_50', 20],
    ['upper_50', 30],
    ['sum_50', 60],
    // 90th: 55, between 50 and 60.
    ['mean_90', 30],
    ['median_90', 30],
    ['upper_90', 50],
    ['sum_90', 150],
  ])
  t.match(statsOf([80], [0.1, 0.1, 0.1], 3, 10_000), [[], [], [], [], [], ['mean_80', 0.1], ['median_80', 0.1], ['upper_80', 0.1], ['sum_80', 0.30000000000000004]], 'equal values all fall within')
})

t.test('statsgod config.yml end to end: exact Graphite lines for every type', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const dir = shortTempDir(t)
  const server = await ServerProcess.start(dir, everyKey(dir, port), 'config.yml')
  t.teardown(() => server.kill())
  const { tcp, udp, unix } = server.endpoints
  t.equal(tcp.length + udp.length + unix.length, 3)

  const tok = 's3cr3t-token.'
  await sendStream(tcp[0]!, [`${tok}c.plain:1|c\n${tok}c.plain:2|c\n${tok}c.sampled:1|c|@0.1\n${tok}t.lat:10|ms\n${tok}t.lat:20|ms\n`])
  // Both gauge values over UDP, in order: across transports nothing orders them (a datagram read
  // by the reader thread may reach the aggregator after a Unix line sent later).
  await sendUdp(udp[0]!, [`${tok}c.plain:3|c\n${tok}c.sampled:1|c|@0.1\n${tok}g.temp:20|g\n${tok}s.users:1|s\n${tok}t.lat:30|ms`, `${tok}g.temp:25|g`])
  await sendStream(unix[0]!, [
    `${tok}t.lat:40|ms\n${tok}t.lat:50|ms\n${tok}t.lat:60|ms|@0.5\n${tok}s.users:2|s\n${tok}s.users:1|s\nold-token.c.plain:100|c\nc.plain:100|c\n`,
  ])
  t.equal(await server.stop(), 0)

  const text = graphite.flushes[0]!
  const lines = text.split('\n').filter((l) => l !== '')
  t.ok(lines.every((l) => /^\S+ \S+ \d+$/.test(l)), 'plaintext protocol')
  // The server's own figures (under statsgod.<hostname>) are checked apart.
  const user = [...graphiteValues(text)].filter(([name]) => !name.includes('statsgod.test-host'))
  t.same(user, [
    ['sg.rates.c.plain.dc1', String(6 / 60)],
    ['sg.counts.c.plain.dc1', '6'],
    ['sg.rates.c.sampled.dc1', String(20 / 60)],
    ['sg.counts.c.sampled.dc1', '20'],
    ['sg.rates.t.lat.dc1', String(7 / 60)],
    ['sg.timers.t.lat.mean_value.ms.dc1', '35'],
    ['sg.timers.t.lat.median_value.ms.dc1', '35'],
    ['sg.timers.t.lat.max_value.ms.dc1', '60'],
    ['sg.timers.t.lat.min_value.ms.dc1', '10'],
    ['sg.timers.t.lat.mean_50.ms.dc1', '20'],
    ['sg.timers.t.lat.median_50.ms.dc1', '20'],
    ['sg.timers.t.lat.upper_50.ms.dc1', '30'],
    ['sg.timers.t.lat.sum_50.ms.dc1', '60'],
    ['sg.timers.t.lat.mean_90.ms.dc1', '30'],
    ['sg.timers.t.lat.median_90.ms.dc1', '30'],
    ['sg.timers.t.lat.upper_90.ms.dc1', '50'],
    ['sg.timers.t.lat.sum_90.ms.dc1', '150'],
    ['sg.gauges.g.temp.dc1', '25'],
    ['sg.sets.s.users.dc1', '2'],
  ])
  const own = graphiteValues(text)
  t.equal(own.get('sg.statsgod.test-host.auth.unix_statsgod_sock.revoked_token'), '1')
  t.equal(own.get('sg.statsgod.test-host.auth.unix_statsgod_sock.unknown_token'), '1', 'no token: "c" is not one')
  t.equal(own.get(`sg.statsgod.test-host.auth.tcp_${tcp[0]!.port}.rejected_lines`), '0')
})
