import t from 'tap'
import { readFileSync } from 'node:fs'
import { deadPort, startSlowReader } from '../helpers/backend-fakes'
import { sendUdp, shortTempDir } from '../helpers/net'
import { ServerProcess } from '../helpers/server-process'
import { eventually, startCarbon } from './real-servers'

/*
 * Issue 9 against real servers: a carbon-cache that accepts but never reads
 * (stopped with SIGSTOP: the kernel still completes connections), a dead
 * InfluxDB and a slow repeater target, all at once, while a second, healthy
 * carbon-cache stores every flush, on time and exactly, read back from its
 * whisper files; the server's memory stays bounded throughout.
 */

const FLUSHES = 15

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) / 1024
}

t.test('a stuck carbon, a dead InfluxDB and a slow repeater target cost the healthy carbon nothing', async (t) => {
  const dir = shortTempDir(t)
  const stuck = await startCarbon(t, `${dir}/stuck`)
  const healthy = await startCarbon(t, `${dir}/healthy`)
  process.kill(stuck.pid, 'SIGSTOP')
  const slow = await startSlowReader(t, 2_000)
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', port: 0 }],
    flushInterval: 1000,
    backends: [
      { type: 'graphite', host: '127.0.0.1', port: stuck.linePort, timeoutMs: 800, maxQueueBytes: 4 * 1024 * 1024 },
      { type: 'influxdb', url: `http://127.0.0.1:${await deadPort()}`, database: 'statsd' },
      { type: 'repeater', protocol: 'tcp', targets: [{ host: '127.0.0.1', port: slow.port }], timeoutMs: 800 },
      { type: 'graphite', host: '127.0.0.1', port: healthy.linePort },
    ],
  })
  t.teardown(() => server.kill())
  const pid = server.logs.find((e) => typeof e.pid === 'number')!.pid as number
  const rss: number[] = []
  const sampler = setInterval(() => rss.push(rssMiB(pid)), 200)

  let sent = 0
  for (let i = 0; i < FLUSHES; i++) {
    const datagrams: string[] = []
    for (let k = 0; k < 800; k += 40) {
      let d = 'iso.count:1|c\n'
      for (let j = k; j < k + 40; j++) d += `iso.gauge.k${j}:${i}|g\n`
      datagrams.push(d)
      sent++
    }
    await sendUdp(server.endpoints.udp[0]!, datagrams)
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  // Read back before stopping: the final flush at exit may share the last one's second, and carbon keeps one value per slot.
  let lastSum = 0
  const stored = await eventually(`all ${sent} counts in whisper`, 30_000, async () => {
    const values = await healthy.fetch('stats_counts.iso.count')
    lastSum = values.reduce((sum, [, v]) => sum + v, 0)
    return lastSum === sent ? values : undefined
  }).catch((err: Error) => {
    t.fail(`${err.message}; stored ${lastSum}`)
    return null
  })
  clearInterval(sampler)
  t.equal(await server.stop(), 0)
  if (stored === null) return
  t.pass(`the healthy carbon stored all ${sent} counts`)
  const slots = stored.map(([ts]) => ts)
  const gaps = slots.slice(1).map((ts, i) => ts - slots[i]!)
  t.ok(gaps.every((g) => g === 1), `one flush every second, none missing (${slots.length} slots)`)
  const peak = Math.max(...rss)
  t.ok(peak < 250, `peak RSS ${peak.toFixed(0)} MiB`)
  const settled = rss.slice(Math.floor(rss.length / 3))
  t.ok(Math.max(...settled) - Math.min(...settled) < 60, `RSS flat after start: ${Math.min(...settled).toFixed(0)}..${Math.max(...settled).toFixed(0)} MiB`)
  t.ok(slow.bytes() > 0, 'the slow repeater target got some traffic')
})
