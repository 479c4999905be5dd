import t, { type Test } from 'tap'
import { bucketIndex, DEFAULT_BOUNDS, nativeIndex } from '../../src/backends/remote-write/buckets'
import { sendStream, shortTempDir } from '../helpers/net'
import { seededRandom } from '../helpers/random'
import { ServerProcess } from '../helpers/server-process'
import { eventually, type InstantVector, startPrometheus, startVictoriaMetrics } from './real-servers'

/*
 * Three instances of the server, each taking a third of the traffic, push
 * by remote write to one real store; the global figures are read back
 * through the store's query API: counters summed exactly, percentiles from
 * the merged histogram within the bucket of the exact one.
 */

const INSTANCES = 3
const TIMER_VALUES = 3000

/** Nearest-rank percentile: the value at rank ceil(q * n) of the sorted values. */
const nearestRank = (sorted: number[], q: number): number => sorted[Math.ceil(q * sorted.length) - 1]!

async function globalView(t: Test, store: { writeUrl: string; query(q: string): Promise<InstantVector> }, dir: string): Promise<void> {
  const servers = await Promise.all(
    Array.from({ length: INSTANCES }, async (_, i) => {
      const server = await ServerProcess.start(
        dir,
        {
          listeners: [{ type: 'tcp', port: 0 }],
          flushInterval: 1000,
          backends: [{ type: 'remote_write', url: store.writeUrl, instance: `host-${i}`, retryInitialMs: 200 }],
        },
        `config-${i}.json`,
      )
      t.teardown(() => server.kill())
      return server
    }),
  )

  // The traffic, dealt out to the instances in turn: each gets a third.
  const random = seededRandom(27)
  const lines: string[][] = servers.map(() => [])
  let hits = 0
  const tagged = { eu: 0, us: 0 }
  const latencies: number[] = []
  for (let i = 0; i < TIMER_VALUES; i++) {
    const to = lines[i % INSTANCES]!
    const n = 1 + (i % 7)
    hits += n
    to.push(`int.hits:${n}|c`)
    const dc = i % 4 === 0 ? 'us' : 'eu'
    tagged[dc]++
    // A tag named instance must not replace the instance label: it becomes exported_instance.
    to.push(`int.req:1|c|#dc:${dc},instance:client`)
    // Log-uniform from 1 ms to 5 s, to 0.1 ms: spread over most of the buckets.
    const ms = Math.round(10 * Math.exp(random() * Math.log(5000))) / 10
    latencies.push(ms / 1000)
    to.push(`int.lat:${ms}|ms`)
  }
  await Promise.all(servers.map((server, i) => sendStream(server.endpoints.tcp[0]!, [lines[i]!.join('\n') + '\n'])))

  const value = (q: string, want: (v: number) => boolean): Promise<number> =>
    eventually(q, 60_000, async () => {
      const result = await store.query(q)
      const v = result.length === 1 ? Number(result[0]!.value[1]) : NaN
      return want(v) ? v : undefined
    })
  // Every timer value is in once the merged count is complete.
  await value('sum(int_lat_seconds_count)', (v) => v === TIMER_VALUES)
  t.equal(await value('sum(int_hits)', (v) => v === hits), hits, 'the sum of each instance latest counter is the total sent')
  t.equal(await value('count(int_hits)', (v) => v === INSTANCES), INSTANCES, 'one series per instance')
  t.equal(await value('sum(int_req{dc="eu",exported_instance="client"})', (v) => v === tagged.eu), tagged.eu, 'tagged counter, dc=eu')
  t.equal(await value('sum(int_req{dc="us"})', (v) => v === tagged.us), tagged.us, 'tagged counter, dc=us')

  const sorted = [...latencies].sort((a, b) => a - b)
  for (const q of [0.5, 0.99]) {
    const exact = nearestRank(sorted, q)
    const b = bucketIndex(DEFAULT_BOUNDS, exact)
    const lower = b === 0 ? 0 : DEFAULT_BOUNDS[b - 1]!
    const upper = DEFAULT_BOUNDS[b] ?? Infinity
    const estimate = await value(`histogram_quantile(${q}, sum by (le) (int_lat_seconds_bucket))`, (v) => Number.isFinite(v))
    t.ok(
      estimate > lower && estimate <= upper,
      `global p${q * 100} from the merged histogram, ${estimate.toFixed(4)} s, is in the bucket (${lower}, ${upper}] of the exact ${exact} s`,
    )
  }
  for (const server of servers) t.equal(await server.stop(), 0)
}

t.test('VictoriaMetrics: three instances merged by remote write', async (t) => {
  const dir = shortTempDir(t)
  await globalView(t, await startVictoriaMetrics(t, dir), dir)
})

t.test('Prometheus: three instances merged by remote write', async (t) => {
  const dir = shortTempDir(t)
  await globalView(t, await startPrometheus(t, dir, null), dir)
})

t.test('Prometheus: native histograms, and staleness markers for the counters the server deletes', async (t) => {
  const dir = shortTempDir(t)
  const prometheus = await startPrometheus(t, dir, null, ['--enable-feature=native-histograms'])
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'tcp', port: 0 }],
    flushInterval: 1000,
    deleteCounters: true,
    backends: [{ type: 'remote_write', url: prometheus.writeUrl, instance: 'native', nativeHistograms: { schema: 3 } }],
  })
  t.teardown(() => server.kill())
  const random = seededRandom(3)
  const latencies = Array.from({ length: 1000 }, () => Math.round(10 * Math.exp(random() * Math.log(5000))) / 10)
  await sendStream(server.endpoints.tcp[0]!, [latencies.map((ms) => `int.native:${ms}|ms\n`).join('') + 'int.gone:5|c\n'])
  const value = (q: string, want: (v: number) => boolean): Promise<number> =>
    eventually(q, 60_000, async () => {
      const result = await prometheus.query(q)
      const v = result.length === 1 ? Number(result[0]!.value[1]) : NaN
      return want(v) ? v : undefined
    })
  await value('histogram_count(int_native_seconds)', (v) => v === latencies.length)
  const sorted = latencies.map((ms) => ms / 1000).sort((a, b) => a - b)
  for (const q of [0.5, 0.99]) {
    const exact = nearestRank(sorted, q)
    const i = nativeIndex(exact, 3)
    const [lower, upper] = [2 ** ((i - 1) / 8), 2 ** (i / 8)]
    const estimate = await value(`histogram_quantile(${q}, int_native_seconds)`, (v) => Number.isFinite(v))
    t.ok(estimate > lower * (1 - 1e-9) && estimate <= upper * (1 + 1e-9), `native p${q * 100}, ${estimate.toFixed(4)} s, is in the bucket (${lower.toFixed(4)}, ${upper.toFixed(4)}] of the exact ${exact} s`)
  }
  t.equal(await value('max_over_time(int_gone[5m])', (v) => v === 5), 5, 'the counter was stored')
  // deleteCounters drops it from the next flush, which marks it stale: an instant query no longer finds it.
  await eventually('int_gone marked stale', 30_000, async () => ((await prometheus.query('int_gone')).length === 0 ? true : undefined))
  t.pass('a deleted counter is stale at once, not 5 minutes later')
  t.equal(await server.stop(), 0)
})
