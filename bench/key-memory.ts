import { execFileSync } from 'node:child_process'
import v8 from 'node:v8'
import { Aggregator } from '../src/aggregate/aggregator'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'

/*
 * Where a series' memory goes (issue 25, ask 3): for each metric type, one
 * aggregator is given KEYS new names (each value once, as over one flush
 * interval, then flushed, so that it holds what a running server holds
 * between flushes), and the growth of V8's heap, of memory outside it
 * (ArrayBuffers, the addon's key table) and of RSS is divided by KEYS. Also
 * the heap by V8 space. Run with `node build/bench/key-memory.js [KEYS]`
 * (each type in a process of its own, with --expose-gc); with
 * STATSD_TS_NATIVE=off for the JavaScript parser alone.
 */

const KEYS = Number(process.argv[2] ?? 100_000)
const TYPES = ['c', 'ms', 'g', 's'] as const

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error('run with node --expose-gc')
  for (let i = 0; i < 3; i++) collect()
}

function snapshot(): { heap: number; outside: number; rss: number; spaces: Map<string, number> } {
  gc()
  const m = process.memoryUsage()
  return {
    heap: m.heapUsed,
    outside: m.external + m.arrayBuffers,
    rss: m.rss,
    spaces: new Map(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size])),
  }
}

/** KEYS lines of `type` in 1400-byte datagrams, like a batching client. */
function packets(type: string): Buffer[] {
  const out: Buffer[] = []
  let lines: string[] = []
  let size = 0
  for (let k = 0; k < KEYS; k++) {
    const line = `app.service${k % 100}.endpoint.key${k}:${(k % 97) + 1}|${type}`
    if (size + line.length + 1 > 1400) {
      out.push(Buffer.from(lines.join('\n')))
      lines = []
      size = 0
    }
    lines.push(line)
    size += line.length + 1
  }
  if (lines.length > 0) out.push(Buffer.from(lines.join('\n')))
  return out
}

/** The aggregator being measured, alive until its snapshot is taken. */
const kept: Aggregator[] = []

/** One type's row, in this process. */
function measure(type: string): string {
  const cfg = { ...configSchema.parse({}), dumpMessages: false }
  const input = packets(type)
  const before = snapshot()
  const aggregator = new Aggregator(cfg, silentLogger())
  for (const p of input) aggregator.ingest(p)
  aggregator.flush(Date.now())
  kept.push(aggregator)
  const after = snapshot()
  const per = (a: number, b: number): string => ((a - b) / KEYS).toFixed(0)
  const spaces = [...after.spaces]
    .map(([name, used]) => [name, used - (before.spaces.get(name) ?? 0)] as const)
    .filter(([, grew]) => grew > KEYS)
    .sort((a, b) => b[1] - a[1])
    .map(([name, grew]) => `${name} ${(grew / KEYS).toFixed(0)}`)
  return `| ${type} | ${per(after.heap, before.heap)} | ${per(after.outside, before.outside)} | ${per(after.rss, before.rss)} | ${spaces.join(', ')} |`
}

function main(): void {
  const type = process.argv[3]
  if (type !== undefined) {
    console.log(measure(type))
    return
  }
  const rows = ['| type | heap B/series | outside heap B/series | RSS B/series | largest heap spaces B/series |', '|---|---|---|---|---|']
  for (const t of TYPES) {
    rows.push(execFileSync(process.execPath, ['--expose-gc', __filename, String(KEYS), t], { encoding: 'utf8' }).trim())
  }
  console.log(`${KEYS} series of each type, one value each, after a flush:\n`)
  console.log(rows.join('\n'))
}

main()
