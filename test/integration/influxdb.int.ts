import t from 'tap'
import { sendUdp, shortTempDir } from '../helpers/net'
import { ServerProcess } from '../helpers/server-process'
import { eventually, startInfluxd } from './real-servers'

/* Through our server into the real influxd (1.x, Debian's), read back with its query API. */

t.test('influxd stores one point per metric, timer statistics as fields, tags as tags', async (t) => {
  const dir = shortTempDir(t)
  const influx = await startInfluxd(t, dir)
  t.strictSame((await influx.query('CREATE DATABASE statsd')).results[0], { statement_id: 0 })
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', port: 0 }],
    flushInterval: 1000,
    percentThreshold: [90],
    backends: [{ type: 'influxdb', url: influx.url, database: 'statsd', batchBytes: 4096 }],
  })
  t.teardown(() => server.kill())
  const gauges = Array.from({ length: 200 }, (_, i) => `int.many.g${i}:${i}|g`).join('\n')
  await sendUdp(server.endpoints.udp[0]!, [
    'int.hits:5|c|#dc:eu,host:a\nint.hits:2|c|#dc:eu,host:a',
    'int.lat:10|ms\nint.lat:20|ms\nint.lat:30|ms',
    'int.temp:21.5|g',
    gauges,
  ])
  const first = async (q: string): Promise<Record<string, unknown>> =>
    eventually(q, 20_000, async () => {
      const series = (await influx.query(q, 'statsd')).results[0]?.series?.[0]
      if (series === undefined) return undefined
      const row = series.values.find((v) => v.some((x) => x !== null && x !== 0 && typeof x === 'number' && x > 0 && x < 1e9))
      return row === undefined ? undefined : Object.fromEntries(series.columns.map((c, i) => [c, row[i]]))
    })
  t.match(await first(`SELECT "count", "rate", "dc", "host" FROM "int.hits" WHERE "count" > 0`), { count: 7, rate: 7, dc: 'eu', host: 'a' })
  t.match(await first(`SELECT "count", "mean", "upper", "upper_90", "sum" FROM "int.lat" WHERE "count" > 0`), {
    count: 3,
    mean: 20,
    upper: 30,
    upper_90: 30,
    sum: 60,
  })
  t.match(await first(`SELECT "value" FROM "int.temp"`), { value: 21.5 })
  const many = await eventually('all 200 gauges (several requests of 4 KiB)', 20_000, async () => {
    const r = await influx.query(`SHOW MEASUREMENTS WITH MEASUREMENT =~ /^int\\.many\\./`, 'statsd')
    const n = r.results[0]?.series?.[0]?.values.length ?? 0
    return n === 200 ? n : undefined
  })
  t.equal(many, 200)
  t.equal(await server.stop(), 0)
})
