import { once } from 'node:events'
import http from 'node:http'
import type { FlushPart } from '../src/aggregate/flush-data'
import { TimerColumns, type TimerEntry } from '../src/aggregate/timer-columns'
import { RemoteWriteBackend } from '../src/backends/remote-write/remote-write'
import { configSchema, type RemoteWriteBackendConfig } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { median } from './median'

/*
 * `npm run bench:remote-write`: one remote write flush of about 100,000
 * series, three ways: 100,000 counters; timers as classic histograms
 * (default buckets, 43 series per timer, 10 values each); timers as native
 * histograms (one series each). For each: the time to apply the flush's
 * parts to the series, the time to encode it (series -> protobuf ->
 * snappy, in slices), bytes per series on the wire, and series per timer.
 * The flush goes to a loopback receiver that only counts bytes. Each is
 * measured on the third flush of the same backend (the steady state: the
 * series exist), median of BENCH_RW_RUNS (default 3) backends.
 */

const SERIES = 100_000
const VALUES_PER_TIMER = 10
const RUNS = Number(process.env.BENCH_RW_RUNS ?? 3)

interface Row {
  what: string
  series: number
  seriesPerTimer: number | null
  applyMs: number
  encodeMs: number
  bytesPerSeries: number
}

function part(kind: 'counters' | 'timers', n: number): FlushPart {
  if (kind === 'counters') {
    return { counters: Array.from({ length: n }, (_, i) => ({ name: `bench.counter.${i};dc=eu`, value: i % 17, rate: 1 })), timers: TimerColumns.empty(), gauges: [], sets: [] }
  }
  const timers: TimerEntry[] = Array.from({ length: n }, (_, i) => ({
    name: `bench.timer.${i};dc=eu`,
    stats: [['count', VALUES_PER_TIMER]],
    samples: { values: Float64Array.from({ length: VALUES_PER_TIMER }, (_, v) => 1 + ((i * 7 + v * 131) % 5000)), count: VALUES_PER_TIMER },
  }))
  return { counters: [], timers: TimerColumns.from(timers), gauges: [], sets: [] }
}

async function measure(url: string, what: string, kind: 'counters' | 'timers', native: boolean): Promise<Row> {
  const cfg = configSchema.parse({
    backends: [{ type: 'remote_write', url, instance: 'bench', nativeHistograms: native ? { schema: 3 } : false, maxQueueBytes: 1 << 30 }],
  }).backends[0] as RemoteWriteBackendConfig
  const seriesPerTimer = kind === 'counters' ? null : native ? 1 : 43
  const count = kind === 'counters' ? SERIES : Math.round(SERIES / seriesPerTimer!)
  const data = part(kind, count)
  const backend = new RemoteWriteBackend(cfg, 'statsd', silentLogger())
  let applyMs = 0
  for (let flush = 0; flush < 3; flush++) {
    const writer = backend.beginFlush({ timestamp: 1_700_000_000 + flush, flushIntervalMs: 10_000 })
    const started = performance.now()
    writer.write(data)
    applyMs = performance.now() - started
    await writer.end({ processingTime: 0, selfMetrics: [] })
  }
  await backend.close()
  const { series, encodeMs, bytes } = backend.lastFlush
  return { what, series, seriesPerTimer, applyMs, encodeMs, bytesPerSeries: bytes / series }
}

async function main(): Promise<void> {
  let received = 0
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (received += c.length))
    req.on('end', () => res.writeHead(204).end())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v1/write`
  const cases: [string, 'counters' | 'timers', boolean][] = [
    ['counters', 'counters', false],
    ['timers, classic buckets', 'timers', false],
    ['timers, native (schema 3)', 'timers', true],
  ]
  console.log('| flush of ~100k series | series | series per timer | apply ms | encode ms | bytes per series |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  for (const [what, kind, native] of cases) {
    const runs: Row[] = []
    for (let i = 0; i < RUNS; i++) runs.push(await measure(url, what, kind, native))
    const row = runs[0]!
    console.log(
      `| ${what} | ${row.series} | ${row.seriesPerTimer ?? '-'} | ${median(runs.map((r) => r.applyMs)).toFixed(1)} | ${median(runs.map((r) => r.encodeMs)).toFixed(1)} | ${median(runs.map((r) => r.bytesPerSeries)).toFixed(1)} |`,
    )
  }
  server.close()
  if (received === 0) throw new Error('the receiver got nothing')
}

void main()
