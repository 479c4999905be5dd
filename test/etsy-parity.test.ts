import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { type FakeGraphite, startFakeGraphite } from './helpers/fake-graphite'
import { withoutTimings } from './helpers/graphite-lines'
import { sendUdp } from './helpers/net'
import { freePort, startEtsy } from './helpers/etsy-process'
import { ServerProcess } from './helpers/server-process'

/*
 * Etsy statsd 0.9 itself (the npm package, a devDependency) and our server
 * read the same Etsy config file and receive the same datagrams; their
 * Graphite output must be the same, name for name and digit for digit.
 * Only input on which we deliberately differ (see README) is left out.
 *
 * Each server gets: a first flush (awaited, so that everything sent after it
 * lands in the next interval), the traffic, the flush holding it, and one
 * idle flush after that.
 */

const FLUSH_MS = 1500

/** One datagram per entry. Everything here is read the same way by Etsy and by us. */
const TRAFFIC = [
  'plain:1|c',
  'plain:2|c\nplain:3|c|@0.5\nsampled:1|c|@0.1\nsampled:2|c|@.25',
  'multi:1|c:2|c:3|ms',
  'neg:-5|c\nfloat:0.25|c\nexp:1e3|c\ndot:.5|c\ntrail:5.|c\nspaced: 5|c\ncrlf:4|c\r',
  Array.from({ length: 23 }, (_, i) => `t.lat:${(i * 37) % 101}.${i % 3}|ms`).join('\n'),
  't.lat:250|ms|@0.25\nt.lat:0|ms\none.timer:42|ms\nfew:1|ms\nfew:2|ms\nfew:3|ms\nhist.lat:5|ms\nhist.lat:500|ms',
  'g.abs:10|g\ng.abs:+5|g\ng.abs:-3|g\ng.new.delta:+7|g\ng.neg.new:-2|g\ng.float:3.5|g\ng.zero:0|g\ng.zero:-4|g',
  's.u:a|s\ns.u:b|s\ns.u:a|s\ns.u:1|s\ns.empty:|s\ns.rate:x|s|@0.5',
  'tagged:1|c|#env:prod,region:eu-west\ntagged.t:5|ms|#env:prod\ntagged.g:3|g|#host:a.b.c\nurl:1|c|#url:http://x/y',
  'gt;env=prod:1|c\ngt;env=prod:2|c|#dc:eu\nsemi:1|c|#a;b:c',
  'with space/and slash!:1|c\n  lots   of  space  :1|c\nodd@#$%chars:1|c',
  'nocolon\nno.type:1\nbad.value:abc|c\nneg.timer:-1|ms\nbad.rate:1|c|@abc\nbad.rate2:1|c|0.5\nbad.gauge:x|g',
  'good.and.bad:1|c:x|c:2|c\nextra.fields:1|c|@0.5|whatever',
]
const LINES = TRAFFIC.reduce((n, packet) => n + packet.split('\n').filter((line) => line !== '').length, 0)

/** An Etsy config.js: the same text for both servers but for the ports Etsy needs spelt out. */
type EtsyConfig = (ports: { udp: number; graphite: number; mgmt: number }) => string

const legacyConfig: EtsyConfig = (p) => `{
  port: ${p.udp}, address: "127.0.0.1", mgmt_port: ${p.mgmt}, mgmt_address: "127.0.0.1",
  graphiteHost: "127.0.0.1", graphitePort: ${p.graphite}, flushInterval: ${FLUSH_MS},
  percentThreshold: [90, 99.9, -10, 50],
  histogram: [ { metric: "hist", bins: [10, 100.5, "inf"] }, { metric: "lat", bins: [1, 50, 100] } ],
  backends: [ "./backends/graphite" ]
}`

const newNamespaceConfig: EtsyConfig = (p) => `{
  port: ${p.udp}, address: "127.0.0.1", mgmt_port: ${p.mgmt}, mgmt_address: "127.0.0.1",
  graphiteHost: "127.0.0.1", graphitePort: ${p.graphite}, flushInterval: ${FLUSH_MS},
  graphite: { legacyNamespace: false, globalPrefix: "app", prefixCounter: "cnt", prefixTimer: "",
              prefixGauge: "gau", prefixSet: "set", globalSuffix: "h1" },
  prefixStats: "sd", flush_counts: false, keyNameSanitize: false, deleteIdleStats: true,
  percentThreshold: 95,
  calculatedTimerMetrics: ["count", "mean", "upper_percent", "count_percent", "histogram"],
  histogram: [ { metric: "lat", bins: [50, "inf"] } ],
  backends: [ "./backends/graphite" ]
}`

/** The flush holding TRAFFIC and the idle flush after it, with timing-dependent values blanked. */
async function trafficAndIdleFlushes(
  graphite: FakeGraphite,
  receivedRate: string,
  send: () => Promise<void>,
): Promise<Map<string, string>[]> {
  await graphite.nextFlush()
  await send()
  const busy = await graphite.waitForFlush((v) => v.get(receivedRate) !== '0')
  const idle = await graphite.nextFlush()
  return [busy, idle].map((values) => {
    const stable = withoutTimings(values)
    // Whole seconds between two flushes less the interval: rounding makes it vary on any server.
    for (const k of stable.keys()) if (k.includes('timestamp_lag')) stable.set(k, '(lag)')
    return stable
  })
}

/** `receivedRate` names the metrics_received rate line in this config's namespace. */
async function compare(t: Test, config: EtsyConfig, receivedRate: string): Promise<void> {
  const dir = t.testdir()
  const [etsyGraphite, ourGraphite, udp, mgmt] = await Promise.all([
    startFakeGraphite(t),
    startFakeGraphite(t),
    freePort('udp'),
    freePort('tcp'),
  ])

  const etsyFile = path.join(dir, 'etsy.js')
  writeFileSync(etsyFile, config({ udp, graphite: etsyGraphite.port, mgmt }))
  await startEtsy(t, etsyFile)
  const ours = await ServerProcess.start(dir, config({ udp: 0, graphite: ourGraphite.port, mgmt: 0 }), 'ours.js')
  t.teardown(() => ours.kill())

  const [etsy, own] = await Promise.all([
    trafficAndIdleFlushes(etsyGraphite.graphite, receivedRate, () => sendUdp({ host: '127.0.0.1', port: udp }, TRAFFIC)),
    trafficAndIdleFlushes(ourGraphite.graphite, receivedRate, () => sendUdp(ours.endpoints.udp[0]!, TRAFFIC)),
  ])
  t.equal(etsy[0]!.get(receivedRate), String(LINES / (FLUSH_MS / 1000)), 'all the traffic landed in one Etsy flush')
  t.same(Object.fromEntries(own[0]!), Object.fromEntries(etsy[0]!), 'the flush with traffic is the same')
  t.same(Object.fromEntries(own[1]!), Object.fromEntries(etsy[1]!), 'the idle flush after it is the same')
  t.equal(await ours.stop(), 0)
}

t.test('legacy namespace, percentiles, histograms, tags and bad lines match Etsy 0.9', (t) =>
  compare(t, legacyConfig, 'stats.statsd.metrics_received'),
)

t.test('new namespace, suffix, filters, no sanitising and deleteIdleStats match Etsy 0.9', (t) =>
  compare(t, newNamespaceConfig, 'app.cnt.sd.metrics_received.rate.h1'),
)
