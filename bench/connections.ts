import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { buildSender, phase, type Server, startServer } from './e2e/run'
import { median } from './median'

/*
 * `npm run bench:connections`: the stream rows of bench:e2e alone, for this
 * build, Etsy 0.9 and, if BENCH_BEFORE_MAIN names another build's
 * build/src/main.js, that build too, in one run: CPU per short-lived
 * connection (one line each) and per metric on one long connection, over
 * TCP and the unix socket. Each server is measured ROUNDS times, taking
 * turns, and the median is kept: the machine is shared. Five to ten minutes.
 */

const ROOT = path.resolve(__dirname, '../..')
const BEFORE = process.env.BENCH_BEFORE_MAIN
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10_000)
const STREAM_RATE = 300_000
const STREAM_SECONDS = 3
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

type Row = { label: string; args: (s: Server) => string[]; per: 'connection' | 'metric' }
const ROWS: Row[] = [
  { label: 'Unix stream, one line per connection: CPU µs per connection', per: 'connection', args: (s) => ['conn-unix', s.unixPath, String(CONNECTIONS)] },
  { label: 'TCP, one line per connection: CPU µs per connection', per: 'connection', args: (s) => ['conn-tcp', '127.0.0.1', String(s.tcpPort), String(CONNECTIONS)] },
  { label: `Unix stream, 1 connection, ${STREAM_RATE / 1000}k metrics/s: CPU µs per 1000 metrics`, per: 'metric', args: (s) => ['unix', s.unixPath, String(STREAM_RATE), String(STREAM_SECONDS)] },
  { label: `TCP, 1 connection, ${STREAM_RATE / 1000}k metrics/s: CPU µs per 1000 metrics`, per: 'metric', args: (s) => ['tcp', '127.0.0.1', String(s.tcpPort), String(STREAM_RATE), String(STREAM_SECONDS)] },
]

async function main(): Promise<void> {
  buildSender()
  const builds: { name: string; start: (dir: string) => Promise<Server> }[] = [
    { name: 'statsd-ts', start: (dir) => startServer('statsd-ts', dir, path.join(ROOT, 'build/src/main.js')) },
    ...(BEFORE !== undefined ? [{ name: 'before', start: (dir: string) => startServer('statsd-ts', dir, path.resolve(BEFORE)) }] : []),
    { name: 'Etsy 0.9', start: (dir) => startServer('Etsy 0.9', dir) },
  ]
  const samples = new Map<string, number[]>()
  const lost = new Map<string, number>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const build of builds) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsd-bench-conn-'))
      const server = await build.start(dir)
      process.stderr.write(`round ${round + 1}/${ROUNDS}: ${build.name}\n`)
      try {
        for (const row of ROWS) {
          const p = await phase(server, row.args(server))
          const cost = row.per === 'connection' ? (p.cpu / p.units) * 1e6 : (p.cpu / p.received) * 1e9
          const key = `${build.name}|${row.label}`
          samples.set(key, [...(samples.get(key) ?? []), cost])
          lost.set(build.name, (lost.get(build.name) ?? 0) + p.sent - p.received)
        }
      } finally {
        server.child.kill('SIGTERM')
        server.received.close()
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  }
  const names = builds.map((b) => b.name)
  const lines = [
    `Median of ${ROUNDS} rounds; ${CONNECTIONS} connections per row; ratio = Etsy's cost / this build's.`,
    '',
    `| workload | ${names.join(' | ')} | ${names.slice(0, -1).map((n) => `${n} vs Etsy`).join(' | ')} |`,
    `|---|${names.map(() => '---|').join('')}${names.slice(0, -1).map(() => '---|').join('')}`,
  ]
  for (const row of ROWS) {
    const costs = names.map((n) => median(samples.get(`${n}|${row.label}`)!))
    const etsy = costs[costs.length - 1]!
    lines.push(`| ${row.label} | ${costs.map((c) => c.toFixed(1)).join(' | ')} | ${costs.slice(0, -1).map((c) => `${(etsy / c).toFixed(2)}x`).join(' | ')} |`)
  }
  lines.push('', `Metrics lost: ${names.map((n) => `${n} ${lost.get(n) ?? 0}`).join(', ')}`)
  process.stdout.write(lines.join('\n') + '\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:connections failed: ${(err as Error).stack}\n`)
  process.exit(1)
})
