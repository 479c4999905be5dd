import { execFileSync } from 'node:child_process'
import { Session } from 'node:inspector/promises'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { PerformanceObserver, performance } from 'node:perf_hooks'
import { median } from './median'

/*
 * `npm run bench:flush`: one flush of 200,000 timers x 10 values through the
 * real aggregator, flush loop and Graphite backend (plaintext, to a local
 * TCP sink in the same process), and the memory 100,000 keys take. Reports
 *   - the longest the event loop was held while the flush ran (a
 *     setImmediate probe records the largest gap between its turns): how
 *     long ingest stops;
 *   - the time from the flush instant until the sink has every byte, and
 *     the process's CPU time over that span (steadier on a busy machine);
 *   - the same for a second flush of as many timers in the same aggregator
 *     and backend: a running server's steady state;
 *   - RSS and heap after loading 100,000 keys (a mix of the four types),
 *     and after two flushes of them.
 * Each build runs in its own process, this one and (if present) the build
 * before the change, BENCH_FLUSH_BASELINE (default /work/baseline/build),
 * and the table gives before/after ratios from the same run.
 *   npm run bench:flush            (BENCH_FLUSH_RUNS=n repeats each build n times, default 2)
 * BENCH_FLUSH_PROFILE=dir writes a CPU profile of each timed flush (flush
 * instant to last byte, nothing else) to dir/<build>-<run>-{first,second}.cpuprofile.
 */

const ROOT = path.resolve(__dirname, '../..')
const THIS_BUILD = path.join(ROOT, 'build')
const BASELINE = process.env.BENCH_FLUSH_BASELINE ?? '/work/baseline/build'
const RUNS = Number(process.env.BENCH_FLUSH_RUNS ?? 2)
const TIMERS = 200_000
const VALUES_PER_TIMER = 10
const MEMORY_KEYS = 100_000
const PROFILE_DIR = process.env.BENCH_FLUSH_PROFILE

interface Figures {
  /** Longest event-loop hold during the flush, ms, in wall time and in CPU time. */
  longestStallMs: number
  longestStallCpuMs: number
  /** Flush instant -> every byte at the sink, ms. */
  flushMs: number
  /** CPU time (user + system) of the whole process over the same span: steadier than wall time on a busy machine. */
  flushCpuMs: number
  /** Garbage collection over the same span, and its longest pause, ms. */
  gcMs: number
  gcLongestMs: number
  bytes: number
  /** The same for a second flush of as many timers in the same aggregator and backend. */
  secondFlushMs: number
  secondFlushCpuMs: number
  secondLongestStallMs: number
  secondGcMs: number
  rssMb: number
  heapMb: number
  rssAfterFlushMb: number
  heapAfterFlushMb: number
}

// ---- child: one build, one measurement ----

/* eslint-disable @typescript-eslint/no-require-imports */
function load(build: string, ...candidates: string[]): Record<string, unknown> {
  build = path.resolve(build)
  for (const file of candidates) {
    const full = path.join(build, 'src', file)
    if (fs.existsSync(full)) return require(full) as Record<string, unknown>
  }
  throw new Error(`none of ${candidates.join(', ')} in ${build}`)
}

/** A Graphite stand-in: resolves each connection's byte count once the sender closes it. */
class Sink {
  private readonly server: net.Server
  private waiting: ((r: { bytes: number }) => void)[] = []
  constructor() {
    this.server = net.createServer((socket) => {
      let bytes = 0
      socket.on('data', (chunk: Buffer) => (bytes += chunk.length))
      socket.on('end', () => {
        socket.end()
        for (const w of this.waiting.splice(0)) w({ bytes })
      })
    })
  }
  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1')
    await once(this.server, 'listening')
    return (this.server.address() as net.AddressInfo).port
  }
  next(): Promise<{ bytes: number }> {
    return new Promise((resolve) => this.waiting.push(resolve))
  }
  close(): void {
    this.server.close()
  }
}

/**
 * Records the longest gap between turns of the event loop while running,
 * in wall time and in the process's CPU time (user + system, all threads):
 * on a busy machine the wall gap also counts time the process was not
 * running at all.
 */
class StallProbe {
  longest = 0
  longestCpu = 0
  private last = 0
  private lastCpu = process.cpuUsage()
  private running = false
  start(): void {
    this.running = true
    this.last = performance.now()
    this.lastCpu = process.cpuUsage()
    const spin = (): void => {
      const now = performance.now()
      const cpu = process.cpuUsage()
      this.longest = Math.max(this.longest, now - this.last)
      this.longestCpu = Math.max(this.longestCpu, (cpu.user + cpu.system - this.lastCpu.user - this.lastCpu.system) / 1000)
      this.last = now
      this.lastCpu = cpu
      if (this.running) setImmediate(spin)
    }
    setImmediate(spin)
  }
  stop(): void {
    this.running = false
  }
}

interface Parts {
  aggregator: { ingest(packet: Buffer): void }
  loop: { flush(): unknown }
  backend: { close(): Promise<void> }
}

function build(buildDir: string, port: number): Parts {
  const pino = require('pino') as (o: object) => unknown
  const { configSchema } = load(buildDir, 'config/schema.js') as { configSchema: { parse(o: object): Record<string, unknown> } }
  const { Aggregator } = load(buildDir, 'aggregate/aggregator.js') as { Aggregator: new (...a: unknown[]) => Parts['aggregator'] }
  const { AggregatorLoop } = load(buildDir, 'flush/loop.js', 'aggregate/loop.js') as { AggregatorLoop: new (...a: unknown[]) => Parts['loop'] }
  const { PacketQueue } = load(buildDir, 'queue/queue.js', 'ingest/queue.js') as { PacketQueue: new (...a: unknown[]) => unknown }
  const { IngestCounters } = load(buildDir, 'core/ingest-counters.js', 'ingest/counters.js') as { IngestCounters: new () => unknown }
  const { createBackends } = load(buildDir, 'backends/registry.js') as { createBackends(ctx: object): Parts['backend'][] }
  const config = configSchema.parse({ backends: [{ type: 'graphite', host: '127.0.0.1', port }] })
  const log = pino({ level: 'silent' })
  const counters = new IngestCounters()
  const queue = new PacketQueue(config.queue, counters)
  const aggregator = new Aggregator({ ...config, dumpMessages: false }, log)
  const backends = createBackends({ config, startupTime: Math.round(Date.now() / 1000), log, tapPackets: () => {} })
  const loop = new AggregatorLoop(queue, aggregator, backends, counters, config.flushInterval, log)
  return { aggregator, loop, backend: backends[0]! }
}

/** `keys` names, `perKey` values each, as packets of about 1400 bytes; `type` picks the metric type per key. */
function* packets(keys: number, perKey: number, type: (key: number) => string): Generator<Buffer> {
  let text = ''
  for (let v = 0; v < perKey; v++) {
    for (let k = 0; k < keys; k++) {
      const t = type(k)
      const value = t === 's' ? `u${(k * 7 + v) % 50}` : String(((k * 31 + v * 17) % 1000) / 4)
      text += `app.service${k % 50}.host${k % 997}.metric${k}:${value}|${t}\n`
      if (text.length > 1400) {
        yield Buffer.from(text)
        text = ''
      }
    }
  }
  if (text !== '') yield Buffer.from(text)
}

function mb(bytes: number): number {
  return Math.round(bytes / 1e5) / 10
}

/** Profiles what runs between start() and stop(), when BENCH_FLUSH_PROFILE names a directory. */
class Profile {
  private session: Session | null = null
  async start(): Promise<void> {
    if (PROFILE_DIR === undefined) return
    this.session = new Session()
    this.session.connect()
    await this.session.post('Profiler.enable')
    await this.session.post('Profiler.setSamplingInterval', { interval: 200 })
    await this.session.post('Profiler.start')
  }
  async stop(file: string): Promise<void> {
    if (this.session === null) return
    const { profile } = await this.session.post('Profiler.stop')
    fs.mkdirSync(PROFILE_DIR!, { recursive: true })
    fs.writeFileSync(path.join(PROFILE_DIR!, file), JSON.stringify(profile))
    this.session.disconnect()
  }
}

async function child(buildDir: string, profileName: string): Promise<Figures> {
  // The heap policy the server sets at start-up (src/main.ts), for builds that have one.
  if (fs.existsSync(path.join(buildDir, 'src/core/heap-growth.js'))) {
    ;(load(buildDir, 'core/heap-growth.js') as { limitHeapGrowth(): unknown }).limitHeapGrowth()
  }
  if (fs.existsSync(path.join(buildDir, 'src/core/young-generation.js'))) {
    ;(load(buildDir, 'core/young-generation.js') as { fixYoungGeneration(): unknown }).fixYoungGeneration()
  }
  const sink = new Sink()
  const port = await sink.listen()
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

  // Memory: 100k keys, a quarter of each type, 10 values each.
  const types = ['c', 'ms', 'g', 's']
  let parts = build(buildDir, port)
  for (const p of packets(MEMORY_KEYS, 10, (k) => types[k % 4]!)) parts.aggregator.ingest(p)
  gc()
  const loaded = process.memoryUsage()
  for (let i = 0; i < 2; i++) {
    const delivered = sink.next()
    parts.loop.flush()
    await delivered
  }
  for (const p of packets(MEMORY_KEYS, 10, (k) => types[k % 4]!)) parts.aggregator.ingest(p)
  gc()
  const afterFlush = process.memoryUsage()
  await parts.backend.close()

  // Stall and speed: 200k timers x 10 values, one flush, in a fresh aggregator;
  // then the same again in the same aggregator (a server's steady state).
  parts = build(buildDir, port)
  const first = await timedFlush(parts, sink, `${profileName}-first`)
  const second = await timedFlush(parts, sink, `${profileName}-second`)
  await parts.backend.close()
  sink.close()
  return {
    ...first,
    secondFlushMs: second.flushMs,
    secondFlushCpuMs: second.flushCpuMs,
    secondLongestStallMs: second.longestStallMs,
    secondGcMs: second.gcMs,
    rssMb: mb(loaded.rss),
    heapMb: mb(loaded.heapUsed),
    rssAfterFlushMb: mb(afterFlush.rss),
    heapAfterFlushMb: mb(afterFlush.heapUsed),
  }
}

type FlushFigures = Pick<Figures, 'longestStallMs' | 'longestStallCpuMs' | 'flushMs' | 'flushCpuMs' | 'gcMs' | 'gcLongestMs' | 'bytes'>

/** Loads 200k timers x 10 values and measures their flush. */
async function timedFlush(parts: Parts, sink: Sink, profileName: string): Promise<FlushFigures> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
  for (const p of packets(TIMERS, VALUES_PER_TIMER, () => 'ms')) parts.aggregator.ingest(p)
  gc()
  const profile = new Profile()
  await profile.start()
  const probe = new StallProbe()
  probe.start()
  await new Promise((resolve) => setImmediate(resolve))
  const started = performance.now()
  const cpuBefore = process.cpuUsage()
  let gcMs = 0
  let gcLongestMs = 0
  const gcWatch = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMs += entry.duration
      gcLongestMs = Math.max(gcLongestMs, entry.duration)
    }
  })
  gcWatch.observe({ entryTypes: ['gc'] })
  const delivered = sink.next()
  parts.loop.flush()
  const { bytes } = await delivered
  const flushMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  gcWatch.disconnect()
  probe.stop()
  await profile.stop(`${profileName}.cpuprofile`)
  return {
    longestStallMs: probe.longest,
    longestStallCpuMs: probe.longestCpu,
    flushMs,
    flushCpuMs: (cpu.user + cpu.system) / 1000,
    gcMs,
    gcLongestMs,
    bytes,
  }
}

// ---- parent: each build in its own process, then one table ----

function runChild(buildDir: string, profileName: string): Figures {
  const args = ['--expose-gc', __filename, '--child', buildDir, profileName]
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 })
  return JSON.parse(out.trim().split('\n').pop()!) as Figures
}

function parent(): void {
  const builds: [string, string, string][] = [['after (this build)', THIS_BUILD, 'after']]
  if (fs.existsSync(path.join(BASELINE, 'src/aggregate/aggregator.js'))) builds.unshift(['before (' + BASELINE + ')', BASELINE, 'before'])
  else console.log(`no baseline build at ${BASELINE}: measuring this build only`)
  const results = new Map<string, Figures[]>()
  for (let run = 0; run < RUNS; run++) {
    // Interleaved, so a change in the machine's load hits both builds alike.
    for (const [label, dir, short] of builds) {
      const figures = runChild(dir, `${short}-${run + 1}`)
      console.log(`${label}, run ${run + 1}: ${JSON.stringify(figures)}`)
      results.set(label, [...(results.get(label) ?? []), figures])
    }
  }
  const rows: [string, keyof Figures][] = [
    ['longest event-loop hold during the flush (ms)', 'longestStallMs'],
    ['the same in CPU time (ms, all threads)', 'longestStallCpuMs'],
    ['flush instant -> all bytes at Graphite (ms)', 'flushMs'],
    ['CPU time over the same span (ms, sink included)', 'flushCpuMs'],
    ['garbage collection over the same span (ms)', 'gcMs'],
    ['longest garbage-collection pause (ms)', 'gcLongestMs'],
    ['bytes sent', 'bytes'],
    ['second flush of as many timers: flush instant -> all bytes (ms)', 'secondFlushMs'],
    ['second flush: CPU time over the same span (ms)', 'secondFlushCpuMs'],
    ['second flush: longest event-loop hold (ms)', 'secondLongestStallMs'],
    ['second flush: garbage collection (ms)', 'secondGcMs'],
    ['RSS, 100k keys loaded (MB)', 'rssMb'],
    ['heap used, 100k keys loaded (MB)', 'heapMb'],
    ['RSS, 100k keys after two flushes (MB)', 'rssAfterFlushMb'],
    ['heap used, 100k keys after two flushes (MB)', 'heapAfterFlushMb'],
  ]
  console.log(`\n${TIMERS} timers x ${VALUES_PER_TIMER} values; medians of ${RUNS} run(s) per build`)
  console.log(`| figure | ${builds.map(([l]) => l).join(' | ')} |${builds.length > 1 ? ' before / after |' : ''}`)
  console.log(`|---|${builds.map(() => '---|').join('')}${builds.length > 1 ? '---|' : ''}`)
  for (const [label, key] of rows) {
    const values = builds.map(([l]) => median(results.get(l)!.map((f) => f[key])))
    const ratio = values.length > 1 && values[1]! > 0 ? ` ${(values[0]! / values[1]!).toFixed(2)}x |` : values.length > 1 ? ' |' : ''
    console.log(`| ${label} | ${values.map((v) => (Number.isInteger(v) ? String(v) : v.toFixed(1))).join(' | ')} |${ratio}`)
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3]!, process.argv[4] ?? 'flush').then(
    (f) => {
      console.log(JSON.stringify(f))
      process.exit(0)
    },
    (err: unknown) => {
      console.error(err)
      process.exit(1)
    },
  )
} else {
  parent()
}
