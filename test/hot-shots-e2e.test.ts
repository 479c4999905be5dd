import net from 'node:net'
import path from 'node:path'
import StatsDClient, { type ClientOptions, type StatsD } from 'hot-shots'
import t from 'tap'
import { startFakeGraphite } from './helpers/fake-graphite'
import { graphiteValues } from './helpers/graphite-lines'
import { shortTempDir, withTimeout } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * hot-shots, the most used DogStatsD client for Node, against the real
 * server over UDP, TCP, a Unix stream socket and a Unix datagram socket
 * (hot-shots' "uds", through its optional unix-dgram addon: if that is not
 * built, this test fails, it does not skip). Every method, tags of every
 * form; every call must land with its exact value, no line may be bad, and
 * no series may exist that the calls did not create.
 */

const EVENT_TIME = new Date('2026-01-02T03:04:05Z')

/** Every hot-shots method, under `prefix`, then closes the client (flushing it). */
async function callEverything(client: StatsD, prefix: string): Promise<void> {
  client.increment(`${prefix}.inc`)
  client.increment(`${prefix}.inc`, 5)
  client.decrement(`${prefix}.dec`, 2)
  client.gauge(`${prefix}.gauge`, 10)
  client.gaugeDelta(`${prefix}.gauge`, -3)
  client.histogram(`${prefix}.hist`, 12)
  client.distribution(`${prefix}.dist`, 15)
  client.timing(`${prefix}.timing`, 250)
  client.set(`${prefix}.set`, 'alice')
  client.unique(`${prefix}.set`, 'bob')
  client.set(`${prefix}.set`, 'alice')
  client.increment(`${prefix}.tags.array`, 1, ['env:prod', 'solo', 'url:http://x'])
  client.increment(`${prefix}.tags.object`, 2, { env: 'prod', region: 'eu' })
  client.gauge(`${prefix}.tags.rate`, 4, 1, ['env:prod'])
  client.event(`${prefix} deploy`, 'line 1\nline 2 | with a pipe', {
    date_happened: EVENT_TIME,
    hostname: 'web1',
    aggregation_key: 'deploys',
    priority: 'low',
    source_type_name: 'ci',
    alert_type: 'warning',
  }, ['env:prod'])
  client.check(`${prefix}.db.up`, client.CHECKS.WARNING, { date_happened: EVENT_TIME, hostname: 'db1', message: 'slow | but up' }, ['env:prod'])
  await new Promise<void>((resolve, reject) => client.close((err) => (err ? reject(err) : resolve())))
}

/** The series each prefix's calls make, with their Graphite values (the client's global tag `app:hs` on each, so tagged too). */
function expectedSeries(prefix: string): Map<string, string> {
  const tagged = (name: string, tags: string): string => `${name};${tags}`
  const g = 'app=hs'
  return new Map([
    [`stats_counts.${tagged(`${prefix}.inc`, g)}`, '6'],
    [`stats_counts.${tagged(`${prefix}.dec`, g)}`, '-2'],
    [`stats.gauges.${tagged(`${prefix}.gauge`, g)}`, '7'],
    [`stats.timers.${prefix}.hist.upper;${g}`, '12'],
    [`stats.timers.${prefix}.dist.upper;${g}`, '15'],
    [`stats.timers.${prefix}.timing.upper;${g}`, '250'],
    [`stats.sets.${prefix}.set.count;${g}`, '2'],
    // hot-shots puts the global tags first, and a tag without a value after those with one.
    [`stats_counts.${prefix}.tags.array;${g};env=prod;url=http--x;solo`, '1'],
    [`stats_counts.${prefix}.tags.object;${g};env=prod;region=eu`, '2'],
    [`stats.gauges.${prefix}.tags.rate;${g};env=prod`, '4'],
  ])
}

/** The metric names of a flush, without the server's own and per-statistic variants (only `upper` for timers, `count` for sets). */
function seriesOf(values: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>()
  for (const [name, value] of values) {
    if (/^(stats\.|stats_counts\.)?statsd\.|^statsd\./.test(name) || name.startsWith('stats.statsd.') || name.startsWith('stats.gauges.statsd.')) continue
    if (name.startsWith('stats.timers.') && !/\.upper;/.test(name)) continue
    if (name.startsWith('stats.') && !name.startsWith('stats.timers.') && !name.startsWith('stats.gauges.') && !name.startsWith('stats.sets.')) continue // per-second rates of counters
    out.set(name, value)
  }
  return out
}

t.test('hot-shots over UDP, TCP, a Unix stream socket and unixgram: every call lands, exactly', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const dir = shortTempDir(t)
  const unixPath = path.join(dir, 'statsd.sock')
  const unixgramPath = path.join(dir, 'dsd.sock')
  const server = await ServerProcess.start(t.testdir(), {
    listeners: [
      { type: 'udp', address: '127.0.0.1', port: 0 },
      { type: 'tcp', address: '127.0.0.1', port: 0 },
      { type: 'unix', path: unixPath },
      { type: 'unixgram', path: unixgramPath },
    ],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 60_000,
  })
  t.teardown(() => server.kill())
  const { udp, tcp, http } = server.endpoints

  const errors: unknown[] = []
  const common: ClientOptions = { globalTags: { app: 'hs' }, includeDataDogTags: false, errorHandler: (err: Error) => errors.push(err) }
  const stream = net.createConnection(unixPath)
  await withTimeout(new Promise((resolve) => stream.once('connect', resolve)), 5000, 'unix stream connect')
  const clients: [string, StatsD][] = [
    ['hs.udp', new StatsDClient({ ...common, protocol: 'udp', host: udp[0]!.host, port: udp[0]!.port })],
    ['hs.tcp', new StatsDClient({ ...common, protocol: 'tcp', host: tcp[0]!.host, port: tcp[0]!.port })],
    ['hs.unix', new StatsDClient({ ...common, protocol: 'stream', stream })],
    ['hs.uds', new StatsDClient({ ...common, protocol: 'uds', path: unixgramPath })],
  ]
  for (const [prefix, client] of clients) await callEverything(client, prefix)
  t.strictSame(errors, [], 'no client errors')

  // Every event and check seen (each transport's last lines): all before them are in too.
  const get = async (route: string): Promise<{ received: number; rateLimited: number; recent: Record<string, unknown>[] }> =>
    (await fetch(`http://${http!.host}:${http!.port}${route}`)).json() as never
  const deadline = Date.now() + 10_000
  while ((await get('/events')).received + (await get('/service_checks')).received < 8) {
    if (Date.now() > deadline) throw new Error('events and service checks did not all arrive')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const events = await get('/events')
  t.strictSame(
    events.recent.sort((a, b) => String(a.title).localeCompare(String(b.title))),
    clients.map(([prefix]) => prefix).sort().map((prefix) => ({
      title: `${prefix} deploy`,
      text: 'line 1\nline 2 | with a pipe',
      timestamp: EVENT_TIME.getTime() / 1000,
      hostname: 'web1',
      aggregationKey: 'deploys',
      priority: 'low',
      sourceType: 'ci',
      alertType: 'warning',
      tags: ['app:hs', 'env:prod'],
    })),
    'every event, exactly',
  )
  const checks = await get('/service_checks')
  t.strictSame(
    checks.recent.sort((a, b) => String(a.name).localeCompare(String(b.name))),
    clients.map(([prefix]) => prefix).sort().map((prefix) => ({
      name: `${prefix}.db.up`,
      status: 1,
      timestamp: EVENT_TIME.getTime() / 1000,
      hostname: 'db1',
      tags: ['app:hs', 'env:prod'],
      message: 'slow | but up',
    })),
    'every service check, exactly',
  )

  t.equal(await server.stop(), 0, 'clean exit')
  t.equal(graphite.flushes.length, 1, 'one final flush')
  const values = graphiteValues(graphite.flushes[0]!)
  t.equal(values.get('stats_counts.statsd.bad_lines_seen'), '0', 'bad_lines_seen 0')
  t.equal(values.get('stats.statsd.bad_fields'), '0', 'bad_fields 0')
  t.equal(values.get('stats.statsd.events_received'), '4')
  t.equal(values.get('stats.statsd.service_checks_received'), '4')
  const expected = new Map(clients.flatMap(([prefix]) => [...expectedSeries(prefix)]))
  t.strictSame(Object.fromEntries(seriesOf(values)), Object.fromEntries(expected), 'exactly the series the calls made, with their values')
})
