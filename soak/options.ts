import { parseArgs } from 'node:util'
import type { Target } from './senders'
import { type Transport, TRANSPORTS } from './workload'

export const USAGE = `usage: statsd-soak [options]

Server under test (one of):
  --config FILE            start build/src/main.js with this config (JSON: its graphite backend is pointed at
                           the harness; Etsy config.js: also give --graphite-port, the port the file names)
  --target LIST            a server already running: udp=HOST:PORT,tcp=HOST:PORT,unix=PATH
                           (then --graphite-port is required, and --pid gives RSS/CPU)
  (neither)                start build/src/main.js with a generated config: UDP, TCP and Unix listeners

Workload:
  --duration D             how long to send (30s, 10m, 2h; default 60s). With --ramp: the whole search.
  --rate N                 lines per second over all transports (default 20000); with --ramp, the first step
  --keys N                 distinct keys, spread over the transports (default 4000)
  --lines-per-packet L     lines per datagram/write, or a list (1,20): one phase each (default 1)
  --transports LIST        udp,tcp,tcp-short,unix (default: all the server listens on)
  --short-conns N          at most N one-shot TCP connections per second (default 200)
  --auth-token TOKEN       prefix each line with TOKEN. (statsgod-style auth)
  --seed N                 workload seed (default 1)

Modes:
  --ramp                   find the highest rate with no loss: steps of --step (default 15s), doubling, then bisecting
  --chaos                  restart the Graphite receiver every --chaos-every (default 10s, down 3s) and send
                           malformed lines between good ones; nothing good may be lost

Checks and output:
  --flush-interval D       the flush interval of a generated config, or of the server under test when it is
                           not read from a JSON --config (default 2s; keep it at 2s or more)
  --prefix-stats NAME      the server's prefixStats (default statsd)
  --graphite-port N        port for the harness's Graphite receiver (default: any free port)
  --pid N                  the server's pid, for RSS/CPU (with --target)
  --warmup D               RSS growth is measured from the end of warm-up (default 25% of the run, at most 2m)
  --max-rss-growth PCT     fail if RSS grows more than PCT% (and 16 MiB) after warm-up (default 25)
  --report FILE            HTML report (default soak-report.html)
  --progress-every D       plain progress line interval when not on a terminal (default 10s)

Exit status: 0 if nothing was lost silently, nothing extra or wrong arrived, and RSS held;
1 if not; 2 for bad options; 3 if the harness could not run (server did not start...).`

export interface Options {
  config?: string
  target?: Target
  graphitePort?: number
  pid?: number
  durationMs: number
  rate: number
  keys: number
  linesPerPacket: number[]
  transports?: Transport[]
  shortConnsPerSec: number
  token?: string
  seed: number
  ramp: boolean
  stepMs: number
  chaos: boolean
  chaosEveryMs: number
  flushIntervalMs: number
  prefixStats: string
  warmupMs: number
  maxRssGrowth: number
  report: string
  progressEveryMs: number
}

export class UsageError extends Error {}

/** "30s", "10m", "2h", "500ms", or a bare number of seconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (m === null) throw new UsageError(`${what}: expected a duration like 30s, 10m or 2h, got ${JSON.stringify(text)}`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!
  return Number(m[1]) * unit
}

function positive(text: string, what: string, integer = true): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new UsageError(`${what}: expected a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`)
  return n
}

function parseTarget(text: string): Target {
  const target: Target = {}
  for (const part of text.split(',')) {
    const eq = part.indexOf('=')
    const [kind, where] = [part.slice(0, eq), part.slice(eq + 1)]
    if (kind === 'unix') {
      target.unix = where
      continue
    }
    const colon = where.lastIndexOf(':')
    const host = where.slice(0, colon).replace(/^\[|\]$/g, '')
    const port = Number(where.slice(colon + 1))
    if ((kind !== 'udp' && kind !== 'tcp') || colon <= 0 || !Number.isInteger(port)) {
      throw new UsageError(`--target: expected udp=HOST:PORT, tcp=HOST:PORT or unix=PATH, got ${JSON.stringify(part)}`)
    }
    target[kind] = { host, port }
  }
  return target
}

export function parseOptions(argv: string[]): Options | 'help' {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        target: { type: 'string' },
        'graphite-port': { type: 'string' },
        pid: { type: 'string' },
        duration: { type: 'string', default: '60s' },
        rate: { type: 'string', default: '20000' },
        keys: { type: 'string', default: '4000' },
        'lines-per-packet': { type: 'string', default: '1' },
        transports: { type: 'string' },
        'short-conns': { type: 'string', default: '200' },
        'auth-token': { type: 'string' },
        seed: { type: 'string', default: '1' },
        ramp: { type: 'boolean', default: false },
        step: { type: 'string', default: '15s' },
        chaos: { type: 'boolean', default: false },
        'chaos-every': { type: 'string', default: '10s' },
        'flush-interval': { type: 'string', default: '2s' },
        'prefix-stats': { type: 'string', default: 'statsd' },
        warmup: { type: 'string' },
        'max-rss-growth': { type: 'string', default: '25' },
        report: { type: 'string', default: 'soak-report.html' },
        'progress-every': { type: 'string', default: '10s' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (parsed.help) return 'help'
  const v = parsed
  if (v.config !== undefined && v.target !== undefined) throw new UsageError('--config and --target: give one or the other')
  if (v.target !== undefined && v['graphite-port'] === undefined) throw new UsageError('--target needs --graphite-port (where the server sends Graphite)')
  if (v.config?.endsWith('.js') && v['graphite-port'] === undefined) {
    throw new UsageError('an Etsy config.js needs --graphite-port: the graphitePort it names (the harness listens there)')
  }
  const transports = v.transports?.split(',').map((t) => {
    if (!(TRANSPORTS as readonly string[]).includes(t)) throw new UsageError(`--transports: unknown transport ${JSON.stringify(t)} (${TRANSPORTS.join(', ')})`)
    return t as Transport
  })
  if (v['auth-token'] !== undefined && !/^[A-Za-z0-9_-]+$/.test(v['auth-token'])) throw new UsageError('--auth-token: letters, digits, _ and - only')
  const durationMs = parseDuration(v.duration, '--duration')
  return {
    config: v.config,
    target: v.target === undefined ? undefined : parseTarget(v.target),
    graphitePort: v['graphite-port'] === undefined ? undefined : positive(v['graphite-port'], '--graphite-port'),
    pid: v.pid === undefined ? undefined : positive(v.pid, '--pid'),
    durationMs,
    rate: positive(v.rate, '--rate', false),
    keys: positive(v.keys, '--keys'),
    linesPerPacket: v['lines-per-packet'].split(',').map((p) => positive(p, '--lines-per-packet')),
    transports,
    shortConnsPerSec: positive(v['short-conns'], '--short-conns', false),
    token: v['auth-token'],
    seed: positive(v.seed, '--seed'),
    ramp: v.ramp,
    stepMs: parseDuration(v.step, '--step'),
    chaos: v.chaos,
    chaosEveryMs: parseDuration(v['chaos-every'], '--chaos-every'),
    flushIntervalMs: parseDuration(v['flush-interval'], '--flush-interval'),
    prefixStats: v['prefix-stats'],
    warmupMs: v.warmup === undefined ? Math.min(120_000, durationMs / 4) : parseDuration(v.warmup, '--warmup'),
    maxRssGrowth: positive(v['max-rss-growth'], '--max-rss-growth', false) / 100,
    report: v.report,
    progressEveryMs: parseDuration(v['progress-every'], '--progress-every'),
  }
}
