import { once } from 'node:events'
import net from 'node:net'
import t from 'tap'
import { consoleSession, eventually, httpGet } from './helpers/admin-clients'
import { graphiteValues } from './helpers/graphite-lines'
import { sendUdp } from './helpers/net'
import { parsePrometheus } from './helpers/prometheus'
import { ServerProcess } from './helpers/server-process'

/*
 * The admin plane of the real server process, with real traffic: every HTTP
 * endpoint, every console command, and the shutdown order (health down
 * before the final flush). One long flush interval, so that nothing is
 * flushed until SIGTERM and every figure is known exactly.
 */

const TRAFFIC = [
  'api.hits:1|c\napi.errors:2|c\nweb.hits:3|c\napi:4|c',
  'api.latency:10|ms\napi.latency:20|ms\nq.depth:7|g\nusers:alice|s\nusers:bob|s',
  'no.type:1\nbad.value:abc|c\nbad.value2:x|g',
]
const LINES = 9 + 3
const BAD = 3
const BYTES = TRAFFIC.reduce((n, p) => n + Buffer.byteLength(p), 0)

/** A Graphite stand-in that, when the final flush connects, asks /healthz before reading it. */
async function graphiteCheckingHealth(admin: () => { host: string; port: number }) {
  const seen: { health: number; flush: string }[] = []
  const server = net.createServer(async (socket) => {
    socket.pause()
    const { status } = await httpGet(admin(), '/healthz')
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', () => {
      seen.push({ health: status, flush: Buffer.concat(chunks).toString() })
      socket.end()
    })
    socket.resume()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, seen, port: (server.address() as net.AddressInfo).port }
}

t.test('admin HTTP and console against a running server with traffic', async (t) => {
  let server: ServerProcess | undefined
  const graphite = await graphiteCheckingHealth(() => server!.endpoints.http!)
  t.teardown(() => graphite.server.close())
  server = await ServerProcess.start(t.testdir(), {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port: graphite.port }],
    flushInterval: 600_000,
  })
  t.teardown(() => server!.kill())
  const { http, mgmt } = server.endpoints
  t.ok(http && mgmt, 'both admin servers are up on free ports')
  const ask = (...commands: string[]): Promise<string> => consoleSession(mgmt!, [...commands, 'quit'])

  t.same(JSON.parse((await httpGet(http!, '/healthz')).body), { status: 'up' })
  t.equal((await httpGet(http!, '/readyz')).status, 200)

  await sendUdp(server.endpoints.udp[0]!, TRAFFIC)
  const metrics = await eventually(async () => {
    const m = parsePrometheus((await httpGet(http!, '/metrics')).body)
    return m.get('statsd_lines_received_total') === LINES ? m : undefined
  }, 'every line counted in /metrics')

  t.test('/metrics', async (t) => {
    t.equal(metrics.get('statsd_packets_received_total'), TRAFFIC.length)
    t.equal(metrics.get('statsd_bytes_received_total'), BYTES)
    const udp = server!.endpoints.udp[0]!
    const label = `{listener="udp ${udp.host}:${udp.port}"}`
    t.equal(metrics.get(`statsd_listener_packets_total${label}`), TRAFFIC.length, 'per listener')
    t.equal(metrics.get(`statsd_listener_bytes_total${label}`), BYTES)
    t.equal(metrics.get(`statsd_listener_lines_total${label}`), LINES)
    t.equal(metrics.get(`statsd_listener_kernel_dropped_packets_total${label}`), 0)
    t.equal(metrics.get('statsd_bad_lines_total{reason="no type"}'), 1)
    t.equal(metrics.get('statsd_bad_lines_total{reason="bad value"}'), 2)
    t.equal(metrics.get('statsd_keys{type="counters"}'), 3 + 4, 'three internal counters and four of ours')
    t.equal(metrics.get('statsd_keys{type="sets"}'), 1)
    t.equal(metrics.get('statsd_health_up'), 1)
    t.equal(metrics.get('statsd_backend_flushes_sent_total{backend="graphite",target="127.0.0.1:' + graphite.port + '"}'), 0)
    t.ok((metrics.get('process_resident_memory_bytes') ?? 0) > 0)
  })

  t.test('/info', async (t) => {
    const info = JSON.parse((await httpGet(http!, '/info')).body)
    t.match(info, {
      name: 'statsd-ts',
      version: /^\d+\.\d+\.\d+/,
      node: process.version,
      config: { source: /config\.json$/, format: 'native' },
      flushIntervalMs: 600_000,
      listeners: [{ description: `udp 127.0.0.1:${server!.endpoints.udp[0]!.port}`, bound: true }],
      backends: [{ name: 'graphite', target: `127.0.0.1:${graphite.port}`, lastSuccess: null, undeliveredBytes: 0 }],
    })
    t.ok(info.pid > 0 && info.pid !== process.pid)
  })

  t.test('the status page', async (t) => {
    const page = await httpGet(http!, '/')
    t.match(page.type, /text\/html/)
    t.match(page.body, new RegExp(`id="total-lines">${LINES}<`))
    t.match(page.body, /bad\.value2:x\|g/, 'the latest bad lines')
  })

  t.test('console: counters, timers, gauges, sets, stats, help, config', async (t) => {
    t.equal(
      await ask('counters'),
      `{\n  'statsd.bad_lines_seen': ${BAD},\n  'statsd.packets_received': 3,\n  'statsd.metrics_received': ${LINES},\n` +
        "  'api.hits': 1,\n  'api.errors': 2,\n  'web.hits': 3,\n  api: 4\n}\nEND\n\n",
    )
    t.equal(await ask('timers'), "{ 'api.latency': [ 10, 20 ] }\nEND\n\n")
    t.equal(await ask('gauges'), "{ 'q.depth': 7 }\nEND\n\n")
    t.equal(await ask('sets'), "{ users: [ 'alice', 'bob' ] }\nEND\n\n")
    t.match(
      await ask('stats'),
      /^uptime: \d+\nmessages\.last_msg_seen: \d+\nmessages\.bad_lines_seen: 3\ngraphite\.last_flush: \d+\ngraphite\.last_exception: \d+\ngraphite\.flush_time: 0\ngraphite\.flush_length: 0\nEND\n\n$/,
    )
    t.match(await ask('help'), /^Commands: stats, counters, timers, gauges, sets, delcounters/)
    t.match(await ask('config'), /\nflushInterval: 600000\n/)
    t.equal(await ask('nonsense'), 'ERROR\n')
  })

  t.test('health down and up, from the console and over HTTP, seen by both', async (t) => {
    t.equal(await ask('health down'), 'health: down\n')
    const down = await httpGet(http!, '/healthz')
    t.equal(down.status, 503)
    t.same(JSON.parse(down.body), { status: 'down', reason: 'set down by an operator' })
    t.equal((await httpGet(http!, '/health/up', 'POST')).status, 200)
    t.equal(await ask('health'), 'health: up\n')
    t.equal((await httpGet(http!, '/health/down', 'POST')).status, 503)
    t.equal(await ask('health up'), 'health: up\n')
  })

  t.test('delcounters api.* and the other deletes', async (t) => {
    t.equal(await ask('delcounters api.* statsd.packets_received'), 'deleted: api.hits\ndeleted: api.errors\nmetric statsd.packets_received not found\nEND\n\n')
    t.equal(await ask('deltimers api.latency'), 'deleted: api.latency\nEND\n\n')
    t.equal(await ask('delsets users'), 'deleted: users\nEND\n\n')
    t.equal(await ask('delgauges nope'), 'metric nope not found\nEND\n\n')
  })

  t.test('SIGTERM: health is down before the final flush, which lacks exactly the deleted metrics', async (t) => {
    t.equal(await server!.stop(), 0)
    t.equal(graphite.seen.length, 1, 'one flush, at shutdown')
    t.equal(graphite.seen[0]!.health, 503, '/healthz said down while the final flush was being sent')
    const flushed = graphiteValues(graphite.seen[0]!.flush)
    t.equal(flushed.get('stats_counts.web.hits'), '3')
    t.equal(flushed.get('stats_counts.api'), '4', '"api" itself is not under api.*')
    t.equal(flushed.get('stats.gauges.q.depth'), '7')
    t.same([...flushed.keys()].filter((k) => /api\.(hits|errors|latency)|users/.test(k)), [], 'deleted metrics are gone')
    t.equal(flushed.get('stats_counts.statsd.packets_received'), '3')
  })
})
