import { PerformanceObserver, performance } from 'node:perf_hooks'
import { asPart, type FlushData } from '../src/aggregate/flush-data'
import { CHUNK_CHARS, encodeInSlices, runInSlices } from '../src/backends/encode'
import { GraphiteFormatter } from '../src/backends/graphite-format'
import { influxLines } from '../src/backends/influxdb/line-protocol'
import { PrometheusSeries } from '../src/backends/prometheus/exposition'

/*
 * Formatting one flush of 200,000 keys for each backend: the longest time the
 * event loop was held (what issue 9 bounds at ~50 ms) and the total time,
 * for the sliced formatters against formatting the whole flush in one call.
 *   npm run build && node build/bench/backend-format.js
 */

const KEYS = 200_000

function flushData(): FlushData {
  const data: FlushData = { timestamp: 1_700_000_000, flushIntervalMs: 10_000, counters: [], timers: [], gauges: [], sets: [], processingTime: 1, selfMetrics: [] }
  const stats: [string, number][] = ['count', 'count_ps', 'lower', 'upper', 'sum', 'sum_squares', 'mean', 'median', 'std', 'upper_90', 'mean_90', 'sum_90'].map((s, i) => [s, i * 1.5])
  for (let i = 0; i < KEYS; i++) {
    const name = `service${i % 50}.host${i % 997}.metric${i}`
    switch (i % 4) {
      case 0:
        data.counters.push({ name, value: i, rate: i / 10 })
        break
      case 1:
        data.timers.push({ name, stats })
        break
      case 2:
        data.gauges.push({ name: `${name};dc=eu`, value: i * 0.5 })
        break
      default:
        data.sets.push({ name, count: i % 100 })
    }
  }
  return data
}

/** Runs `job` while a setImmediate loop records the longest gap between its turns: the longest the event loop was held. */
async function measure(label: string, job: () => Promise<unknown> | unknown): Promise<void> {
  let running = true
  let last = performance.now()
  let lastCpu = process.cpuUsage()
  let longest = 0
  let longestCpu = 0
  const spin = (): void => {
    const now = performance.now()
    const cpu = process.cpuUsage()
    longest = Math.max(longest, now - last)
    longestCpu = Math.max(longestCpu, (cpu.user - lastCpu.user) / 1000)
    last = now
    lastCpu = cpu
    if (running) setImmediate(spin)
  }
  let gcLongest = 0
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcLongest = Math.max(gcLongest, entry.duration)
  })
  gc.observe({ entryTypes: ['gc'] })
  setImmediate(spin)
  await new Promise((resolve) => setImmediate(resolve))
  const started = performance.now()
  await job()
  const total = performance.now() - started
  await new Promise((resolve) => setImmediate(resolve))
  running = false
  gc.disconnect()
  const ms = (n: number): string => n.toFixed(1).padStart(7)
  console.log(`${label.padEnd(40)} ${ms(longest)} ${ms(longestCpu)} ${ms(gcLongest)} ${total.toFixed(0).padStart(7)}`)
}

async function main(): Promise<void> {
  const data = flushData()
  const naming = { legacyNamespace: true, globalPrefix: 'stats', prefixCounter: 'counters', prefixTimer: 'timers', prefixGauge: 'gauges', prefixSet: 'sets', prefixStats: 'statsd', flushCounts: true, sanitizeNames: false }
  const graphite = new GraphiteFormatter(naming)
  console.log(`${KEYS} keys (50k each: counters, timers with 12 stats, tagged gauges, sets)`)
  console.log(`${''.padEnd(40)} longest block (ms): wall    user-CPU  GC pause  total (ms)`)
  await measure('graphite text, whole flush in one call', () => Buffer.from(graphite.format(data, Date.now())))
  await measure('graphite text into Buffers, one part', () => {
    const lines = graphite.begin(data)
    lines.write(asPart(data))
    return lines.end(data, Date.now())
  })
  await measure('influxdb, whole flush in one call', () => Buffer.from([...influxLines(data, 'statsd', Infinity)].join('')))
  await measure('influxdb, sliced (as sent)', () => encodeInSlices(influxLines(data, 'statsd', CHUNK_CHARS), (s) => Buffer.from(s)))
  const series = new PrometheusSeries('statsd')
  await measure('prometheus apply, sliced (as done)', () => runInSlices(series.apply(data, Date.now()), () => {}))
  await measure('prometheus render, sliced (as served)', () => runInSlices(series.render(CHUNK_CHARS), () => {}))
}

void main()
