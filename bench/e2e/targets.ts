import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { median } from '../median'
import { NODE_FLAGS } from '../../src/core/node-flags'
import { format, phase, rssMb, type Server, startServer, stopServer } from './run'

/*
 * BENCH_E2E_ONLY=targets: issue 25's rows, for each build named in
 * BENCH_E2E_MAINS (colon-separated main.js paths: before, then after),
 * taking turns, each row on a fresh server of each, BENCH_E2E_REPEAT times
 * (default 1; the median is kept, and the highest loss); BENCH_E2E_ROWS (a
 * regular expression) picks rows by label. Each row says the
 * receive buffer it asks for; as root, net.core.rmem_max is raised to 64
 * MiB for the run so that the kernel grants it, and restored at the end.
 * Servers flush every 2 s, and their Graphite outbox may hold 1 GiB.
 * Prints one Markdown table: each figure for each build, and the last
 * build's against the first.
 */

const ROOT = path.resolve(__dirname, '../../..')
/**
 * Each entry is a main.js, optionally preceded by environment variables and
 * followed by node flags, after spaces (`MALLOC_ARENA_MAX=2
 * build/src/main.js --max-semi-space-size=2`; the flags are added to
 * NODE_FLAGS): what a setting costs and saves, in the same run.
 */
const BUILDS = (process.env.BENCH_E2E_MAINS ?? path.join(ROOT, 'build/src/main.js')).split(':').map((entry) => {
  const words = entry.trim().split(/\s+/)
  const env = Object.fromEntries(words.filter((_, i) => i < words.findIndex((x) => x.endsWith('.js'))).map((w) => w.split('=', 2) as [string, string]))
  const [main, ...flags] = words.slice(Object.keys(env).length)
  return { main: path.resolve(main!), nodeArgs: [...NODE_FLAGS, ...flags], env, label: entry.trim() }
})
const MAINS = BUILDS.map((b) => b.label)
const REPEAT = Number(process.env.BENCH_E2E_REPEAT ?? 1)
const SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 3)
/** BENCH_E2E_ROWS: a regular expression; only the rows whose label it matches. */
const ROWS = new RegExp(process.env.BENCH_E2E_ROWS ?? '')
/**
 * BENCH_E2E_RECVBUF_KIB: comma-separated receive buffer sizes in KiB; each
 * row runs once with each instead of its own (issue 25, ask 4: the buffer
 * that no longer drops with the reader thread).
 */
const RECV_BUFFERS = (process.env.BENCH_E2E_RECVBUF_KIB ?? '').split(',').filter((k) => k !== '').map((k) => Number(k) * 1024)
const RMEM_MAX = '/proc/sys/net/core/rmem_max'
const WANTED_RMEM_MAX = 64 << 20
const MiB = 1 << 20

type Figures = [string, number][]

/** Each row with each of BENCH_E2E_RECVBUF_KIB's buffers (the rows as they are without it). */
function withBuffers(selected: Row[]): Row[] {
  if (RECV_BUFFERS.length === 0) return selected
  return selected.flatMap((row) =>
    RECV_BUFFERS.map((recvBuffer) => ({ ...row, recvBuffer, label: `${row.label.replace(/, \d+ MiB buffer/, '')}, ${recvBuffer / 1024} KiB buffer` })),
  )
}

interface Row {
  label: string
  recvBuffer: number
  /** Aggregation threads (default 1). */
  workers?: number
  measure(s: Server): Promise<Figures>
}

const udp = (s: Server, per: number, rate: number, seconds = SECONDS): string[] => ['udp', '127.0.0.1', String(s.udpPort), String(per), String(rate), String(seconds)]

/** 1k keys at a steady rate, after a warm-up (V8 compiles for this shape of input): loss and CPU per metric. */
function steady(per: number, rate: number, workers = 1): Row {
  return {
    label: `1k keys, ${per}/datagram, ${rate / 1000}k metrics/s, 64 MiB buffer${workers > 1 ? `, workers: ${workers}` : ''}`,
    recvBuffer: 64 * MiB,
    workers,
    measure: async (s) => {
      await phase(s, udp(s, per, rate, 2))
      const p = await phase(s, udp(s, per, rate))
      return [
        ['loss %', (100 * (p.sent - p.received)) / p.sent],
        ['CPU-seconds per million metrics', (p.cpu / p.received) * 1e6],
      ]
    },
  }
}

/** 100k keys of each of three types at `rate`: CPU per metric, for the cost of sharding where parsing costs more (workers: 2 against 1). */
function manyKeys(rate: number, workers: number): Row {
  return {
    label: `100k keys × counter, timer, gauge, 20/datagram, ${rate / 1000}k metrics/s, 64 MiB buffer, workers: ${workers}`,
    recvBuffer: 64 * MiB,
    workers,
    measure: async (s) => {
      const keys = { SENDER_KEYS: '100000', SENDER_TYPES: '3' }
      await phase(s, udp(s, 20, rate), keys)
      const p = await phase(s, udp(s, 20, rate), keys)
      return [
        ['loss %', (100 * (p.sent - p.received)) / p.sent],
        ['kernel drops', p.kernelDrops],
        ['peak RSS MB', p.peakRss],
        ['CPU-seconds per million metrics', (p.cpu / p.received) * 1e6],
      ]
    },
  }
}

const rows: Row[] = [
  {
    // A storm of bad lines keeps the aggregating thread busy: the reader must not wait for it.
    label: 'Fuzz: 1 good + 40 bad lines per datagram, 36k datagrams/s, 8 MiB buffer',
    recvBuffer: 8 * MiB,
    measure: async (s) => {
      const p = await phase(s, udp(s, 1, 36_000), { SENDER_BAD: '40' })
      return [
        ['good lines lost %', (100 * (p.sent - p.counted)) / p.sent],
        ['kernel drops', p.kernelDrops],
        ['queue drops', p.drops - p.kernelDrops],
        ['CPU-seconds per million good lines received', (p.cpu / p.counted) * 1e6],
      ]
    },
  },
  {
    label: '100k keys × counter, timer, gauge, 20/datagram, 1.6M metrics/s, 64 MiB buffer',
    recvBuffer: 64 * MiB,
    measure: async (s) => {
      const keys = { SENDER_KEYS: '100000', SENDER_TYPES: '3' }
      // Warm-up: every key created (each seen 4 times), so that the row measures a running server.
      await phase(s, udp(s, 20, 400_000), keys)
      const p = await phase(s, udp(s, 20, 1_600_000), keys)
      return [
        ['loss %', (100 * (p.sent - p.received)) / p.sent],
        ['kernel drops', p.kernelDrops],
        ['peak RSS MB', p.peakRss],
        ['CPU-seconds per million metrics', (p.cpu / p.received) * 1e6],
      ]
    },
  },
  {
    // Each 1 s flush takes 200k timers × 5 values while UDP keeps coming: the reader must not wait for it.
    label: '200k timers, 20/datagram, 1M metrics/s, 64 MiB buffer',
    recvBuffer: 64 * MiB,
    measure: async (s) => {
      const p = await phase(s, udp(s, 20, 1_000_000), { SENDER_KEYS: '200000', SENDER_TYPES: 'ms' })
      return [
        ['loss %', (100 * (p.sent - p.received)) / p.sent],
        ['kernel drops', p.kernelDrops],
        ['CPU-seconds per million metrics', (p.cpu / p.received) * 1e6],
      ]
    },
  },
  // What is met today must stay so: CPU per metric and no loss at 1k keys.
  steady(20, 400_000),
  // Against the row above (one thread), in the same run: what sharding costs per metric (target ≤ 1.15x).
  steady(20, 400_000, 2),
  manyKeys(400_000, 1),
  manyKeys(400_000, 2),
  manyKeys(1_600_000, 1),
  manyKeys(1_600_000, 2),
  steady(1, 40_000),
  {
    label: 'Idle, 1k keys, 8 MiB buffer',
    recvBuffer: 8 * MiB,
    measure: async (s) => {
      await phase(s, udp(s, 20, 100_000, 2))
      // Several flushes with nothing arriving.
      for (let i = 0; i < 4; i++) await s.received.nextFlush()
      return [['RSS MB', rssMb(s.child.pid!)]]
    },
  },
]

/** Raises net.core.rmem_max (as root) for the run; returns how to restore it. */
function raiseRmemMax(): () => void {
  const before = Number(fs.readFileSync(RMEM_MAX, 'utf8').trim())
  if (before >= WANTED_RMEM_MAX) return () => {}
  try {
    fs.writeFileSync(RMEM_MAX, String(WANTED_RMEM_MAX))
  } catch (err) {
    process.stderr.write(`cannot raise ${RMEM_MAX} (${(err as Error).message}): buffers are capped at ${before} bytes\n`)
    return () => {}
  }
  const restore = (): void => fs.writeFileSync(RMEM_MAX, String(before))
  process.once('SIGINT', () => process.exit(130))
  // Also when the run fails or is interrupted.
  process.once('exit', restore)
  return restore
}

export async function targetsOnly(): Promise<void> {
  const restore = raiseRmemMax()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsd-bench-'))
  // samples[row figure][build] = values
  const samples = new Map<string, number[][]>()
  try {
    for (const row of withBuffers(rows.filter((r) => ROWS.test(r.label)))) {
      process.stderr.write(`${row.label}\n`)
      for (let round = 0; round < REPEAT; round++) {
        for (const [b, { main, nodeArgs, env, label }] of BUILDS.entries()) {
          // Flushes every 2 s, as in the issue's runs. A flush of 300k series is 80 MB: the stand-in for
          // Graphite takes a while to read one, and with the outbox's default 16 MiB the server dropped
          // whole flushes, which counted as loss.
          const server = await startServer('statsd-ts', fs.mkdtempSync(path.join(dir, 'run-')), main, nodeArgs, {
            recvBuffer: row.recvBuffer,
            graphiteQueueBytes: 1 << 30,
            flushIntervalMs: 2000,
            workers: row.workers,
            env,
          })
          try {
            for (const [figure, value] of await row.measure(server)) {
              const key = `${row.label}: ${figure}`
              if (!samples.has(key)) samples.set(key, MAINS.map(() => []))
              samples.get(key)![b]!.push(value)
              process.stderr.write(`  ${label}: ${figure} ${value.toFixed(3)}\n`)
            }
          } finally {
            await stopServer(server)
          }
        }
      }
    }
  } finally {
    restore()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const lines = [
    `Builds: ${MAINS.map((m, i) => `(${i + 1}) ${m}`).join(', ')}; ${REPEAT} round(s), taking turns.`,
    '',
    `| workload: figure | ${MAINS.map((_, i) => `(${i + 1})`).join(' | ')} | (${MAINS.length})/(1) |`,
    `|---|${MAINS.map(() => '---|').join('')}---|`,
  ]
  for (const [key, byBuild] of samples) {
    const values = byBuild.map((v) => (/loss|drops/.test(key) ? Math.max(...v) : median(v)))
    const ratio = values[0]! !== 0 ? `${(values.at(-1)! / values[0]!).toFixed(2)}x` : 'n/a'
    lines.push(`| ${key} | ${values.map((v) => (Number.isInteger(v) ? String(v) : format(v))).join(' | ')} | ${ratio} |`)
  }
  process.stdout.write(lines.join('\n') + '\n')
}
