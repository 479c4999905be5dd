import t from 'tap'
import { sendUdp, shortTempDir } from '../helpers/net'
import { ServerProcess } from '../helpers/server-process'
import { eventually, startCarbon } from './real-servers'

/* Through our server into the real carbon-cache, read back from its whisper files. */

for (const protocol of ['text', 'pickle'] as const) {
  t.test(`carbon-cache stores what we send (${protocol})`, async (t) => {
    const dir = shortTempDir(t)
    const carbon = await startCarbon(t, dir)
    const server = await ServerProcess.start(dir, {
      listeners: [{ type: 'udp', port: 0 }],
      flushInterval: 1000,
      percentThreshold: [90],
      backends: [
        {
          type: 'graphite',
          host: '127.0.0.1',
          protocol,
          port: protocol === 'pickle' ? carbon.picklePort : carbon.linePort,
        },
      ],
    })
    t.teardown(() => server.kill())
    await sendUdp(server.endpoints.udp[0]!, [
      'int.hits:5|c\nint.hits:2|c',
      'int.temp:21.5|g',
      'int.lat:10|ms\nint.lat:20|ms\nint.lat:30|ms',
      'int.users:a|s\nint.users:b|s',
      'int.tagged:4|c|#dc:eu',
    ])
    const stored = async (metric: string): Promise<number[]> => (await carbon.fetch(metric)).map(([, v]) => v)
    const expectValue = (metric: string, value: number): Promise<true> =>
      eventually(`${metric} = ${value} in whisper`, 20_000, async () => ((await stored(metric)).includes(value) ? true : undefined))
    await expectValue('stats_counts.int.hits', 7)
    await expectValue('stats.int.hits', 7)
    await expectValue('stats.gauges.int.temp', 21.5)
    await expectValue('stats.timers.int.lat.upper_90', 30)
    await expectValue('stats.timers.int.lat.mean', 20)
    await expectValue('stats.timers.int.lat.count', 3)
    await expectValue('stats.sets.int.users.count', 2)
    await expectValue('stats.statsd.graphiteStats.last_exception', 0)
    t.pass('every metric type read back from whisper files')
    t.equal(await server.stop(), 0)
  })
}
