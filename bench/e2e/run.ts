import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { NODE_FLAGS } from '../../src/core/node-flags'
import { udpSockets } from '../../src/listeners/proc-net'
import { median } from '../median'
import { targetsOnly } from './targets'
import { relayRows } from './relay'

/*
 * `npm run bench:e2e`: this server and Etsy statsd 0.9 side by side on
 * loopback, each driven by the same C sender (bench/e2e/sender.c), each
 * with the same UDP receive buffer, each flushing every second to a local
 * stand-in for Graphite that sums statsd.metrics_received. CPU is the run
 * time of every thread over each phase (cpuSeconds), until the server has
 * flushed everything it received. Both servers run at once and take each
 * workload in turn, so that the machine's load weighs on both alike (the
 * memory row runs last, on a fresh server of each). Prints one Markdown
 * table; the ratio column is always "how many times better than Etsy"
 * (Etsy's cost / ours, or our rate / Etsy's). Takes a few minutes;
 * BENCH_E2E_SECONDS (default 3) sets the length of each fixed-rate phase,
 * BENCH_E2E_ROUNDS (default 1) how many times the fixed-rate and connection
 * rows are measured (the median is kept), BENCH_E2E_MAIN another build's
 * build/src/main.js to measure instead of this one. BENCH_E2E_ONLY=memory
 * runs only the 100k-key memory row, on our server alone, BENCH_E2E_REPEAT
 * times (default 1) for each build named in BENCH_E2E_MAINS (colon-separated
 * main.js paths; default the one above), taking turns: a quick before/after.
 * BENCH_E2E_ONLY=sustained runs only the sustained-rate ladders, of both servers.
 * BENCH_E2E_ONLY=targets runs issue 25's rows (bench/e2e/targets.ts) for each
 * build in BENCH_E2E_MAINS, taking turns.
 * BENCH_E2E_ONLY=relay runs only the relay rows (bench/e2e/relay.ts): this relay against proxy.js.
 * BENCH_E2E_VERBOSE=1 prints each phase's figures, and the kernel's, on stderr.
 */

const ROOT = path.resolve(__dirname, '../../..')
export const SENDER = path.join(ROOT, 'build/bench/e2e/sender')
/** sender.c has no TLS: the `node-tls` (and `node-tcp`) modes are this Node script's. */
const NODE_SENDER = path.join(__dirname, 'node-sender.js')
/** Another build of this server to measure (e.g. before a change); unixgram is left out if it has none. */
const OURS_MAIN = path.resolve(process.env.BENCH_E2E_MAIN ?? path.join(ROOT, 'build/src/main.js'))
const PHASE_S = Number(process.env.BENCH_E2E_SECONDS ?? 3)
/**
 * Each fixed-rate workload first runs this long unmeasured, for both servers:
 * the figures are then the steady state, not V8 compiling code for a new
 * shape of input (which took a third of a 3 s phase at 1 metric per datagram).
 */
const WARMUP_S = Number(process.env.BENCH_E2E_WARMUP_SECONDS ?? 2)
/** Fixed-rate and connection rows are measured this many times, in turn, and the median kept. */
const ROUNDS = Number(process.env.BENCH_E2E_ROUNDS ?? 1)
const STEP_S = 2
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
/** The same SO_RCVBUF for both servers: as much as net.core.rmem_max allows, up to 32 MiB. */
export const RECV_BUFFER = Math.min(32 << 20, Number(fs.readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim()))
const CONNECTIONS = 3_000
/** The memory row: this many distinct keys, sent for this long. */
const MEMORY_KEYS = 100_000
const MEMORY_PHASE_S = 6
/** "Sustained" = below this loss at that rate and every lower one. */
const MAX_LOSS = 0.001
/** BENCH_E2E_VERBOSE=1: a line per phase on stderr (what was sent, received, reported dropped). */
const VERBOSE = process.env.BENCH_E2E_VERBOSE === '1'

/** Stands in for Graphite: sums metrics_received, and our server's reported drops, over every flush. */
export class ReceivedCounter {
  total = 0
  /** statsd.packets_received: datagrams, or stream reads. */
  packets = 0
  /** Datagrams our server reported dropped (Etsy reports none). */
  drops = 0
  /** The part of drops the kernel dropped, not our queue. */
  kernelDrops = 0
  /** The sender's counters' values summed (metrics_received also counts bad lines). */
  counted = 0
  private flushWaiters: ((added: number) => void)[] = []
  readonly port: Promise<number>
  private readonly server = net.createServer((socket) => {
    // Read line by line as it comes: one delivery may carry several flushes of 80 MB
    // (the outbox sends what queued up while it was busy), more than a string may hold.
    let added = 0
    let tail = ''
    const scan = (text: string): void => {
      for (const m of text.matchAll(/^stats_counts\.statsd\.metrics_received (\d+)/gm)) added += Number(m[1])
      for (const m of text.matchAll(/^stats_counts\.statsd\.packets_received (\d+)/gm)) this.packets += Number(m[1])
      for (const m of text.matchAll(/^stats_counts\.bench\.key\d+ (\d+)/gm)) this.counted += Number(m[1])
      // Ours only: what it saw dropped, by the kernel or at its full queue.
      for (const m of text.matchAll(/^stats\.statsd\.(udp\.\S+\.kernel_drops|queue\.dropped_packets) (\d+)/gm)) {
        this.drops += Number(m[2])
        if (m[1]!.endsWith('kernel_drops')) this.kernelDrops += Number(m[2])
      }
    }
    socket.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString('latin1')
      const cut = text.lastIndexOf('\n') + 1
      scan(text.slice(0, cut))
      tail = text.slice(cut)
    })
    socket.on('error', () => {})
    socket.on('end', () => {
      scan(tail)
      this.total += added
      for (const w of this.flushWaiters.splice(0)) w(added)
    })
  })
  constructor() {
    this.server.listen(0, '127.0.0.1')
    this.port = once(this.server, 'listening').then(() => (this.server.address() as net.AddressInfo).port)
  }
  nextFlush(timeoutMs = 5_000): Promise<number> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(-1), timeoutMs)
      this.flushWaiters.push((added) => {
        clearTimeout(timer)
        resolve(added)
      })
    })
  }
  close(): void {
    this.server.close()
  }
}

export interface Server {
  name: string
  child: ChildProcess
  received: ReceivedCounter
  udpPort: number
  tcpPort: number
  unixPath: string
  unixgramPath: string | null
}

/** A loopback port free for both TCP and UDP (a server listens on the same number for both). */
export async function freePort(): Promise<number> {
  for (;;) {
    const tcp = net.createServer().listen(0, '127.0.0.1')
    await once(tcp, 'listening')
    const { port } = tcp.address() as net.AddressInfo
    const udp = dgram.createSocket('udp4')
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false))
      udp.bind(port, '127.0.0.1', () => resolve(true))
    })
    udp.close()
    tcp.close()
    if (free) return port
  }
}

/** Starts Etsy 0.9, or this server from `main` (a build's build/src/main.js). */
export async function startServer(
  name: 'statsd-ts' | 'Etsy 0.9',
  dir: string,
  main = OURS_MAIN,
  nodeArgs?: readonly string[],
  options: {
    recvBuffer?: number
    /** Ours only: the Graphite backend's outbox bound (maxQueueBytes; its default when unset), the flush interval. */
    graphiteQueueBytes?: number
    flushIntervalMs?: number
    /** Ours only: aggregation threads (STATSD_TS_WORKERS; 1 unless said, so that rows stay comparable across machines). */
    workers?: number
    /** Ours only: more environment (MALLOC_ARENA_MAX=2...). */
    env?: Record<string, string>
  } = {},
): Promise<Server> {
  const { recvBuffer = RECV_BUFFER, graphiteQueueBytes, flushIntervalMs = 1000, workers = 1, env = {} } = options
  const received = new ReceivedCounter()
  const graphitePort = await received.port
  const [udpPort, tcpPort, mgmtPort] = [await freePort(), await freePort(), await freePort()]
  const unixPath = path.join(dir, `${name === 'statsd-ts' ? 'ours' : 'etsy'}.sock`)
  let child: ChildProcess
  let unixgramPath: string | null = null
  if (name === 'statsd-ts') {
    if (fs.existsSync(path.join(path.dirname(main), 'listeners/datagram/unixgram.js'))) unixgramPath = path.join(dir, 'ours.dgram')
    const config = {
      listeners: [
        { type: 'udp', address: '127.0.0.1', port: udpPort, recvBufferSize: recvBuffer },
        { type: 'tcp', address: '127.0.0.1', port: tcpPort },
        { type: 'unix', path: unixPath },
        ...(unixgramPath !== null ? [{ type: 'unixgram', path: unixgramPath, recvBufferSize: recvBuffer }] : []),
      ],
      backends: [{ type: 'graphite', host: '127.0.0.1', port: graphitePort, maxQueueBytes: graphiteQueueBytes }],
      flushInterval: flushIntervalMs,
      log: { level: 'warn' },
    }
    fs.writeFileSync(path.join(dir, 'ours.json'), JSON.stringify(config))
    // Launched as every launcher does (NODE_FLAGS), unless the caller says otherwise.
    child = spawn(process.execPath, [...(nodeArgs ?? NODE_FLAGS), main, path.join(dir, 'ours.json')], {
      stdio: 'ignore',
      env: { ...process.env, STATSD_TS_WORKERS: String(workers), ...env },
    })
  } else {
    fs.writeFileSync(
      path.join(dir, 'etsy.js'),
      `{ mgmt_port: ${mgmtPort}, mgmt_address: "127.0.0.1", graphiteHost: "127.0.0.1", graphitePort: ${graphitePort},
         flushInterval: 1000, backends: ["./backends/graphite"],
         servers: [ { server: "./servers/udp", address: "127.0.0.1", port: ${udpPort} },
                    { server: "./servers/tcp", address: "127.0.0.1", port: ${tcpPort} },
                    { server: "./servers/tcp", socket: "${unixPath}" } ] }`,
    )
    child = spawn(
      process.execPath,
      ['-r', path.join(__dirname, 'etsy-recvbuf.js'), require.resolve('statsd/stats.js'), path.join(dir, 'etsy.js')],
      { stdio: 'ignore', env: { ...process.env, BENCH_RECV_BUFFER: String(recvBuffer) } },
    )
  }
  const server = { name, child, received, udpPort, tcpPort, unixPath, unixgramPath }
  // Up once it flushes.
  if ((await received.nextFlush(15_000)) < 0) throw new Error(`${name} did not start`)
  return server
}

/**
 * CPU time of every thread of `pid`, from the scheduler's nanosecond
 * counts. /proc/<pid>/stat counts in clock ticks (10 ms), 5 % of a phase's
 * CPU here: it is the fallback where there is no schedstat. Node's threads
 * live as long as the process, so none is lost by summing the live ones.
 */
export function cpuSeconds(pid: number): number {
  let ns = 0
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // The thread has just exited, or the kernel keeps no schedstat.
    }
  }
  if (ns > 0) return ns / 1e9
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

export interface Phase {
  sent: number
  received: number
  cpu: number
  /** Datagrams or connections the sender made. */
  units: number
  /** How long the sender sent. */
  seconds: number
  /** The server's largest resident memory while the phase ran, sampled every 100 ms, MB. */
  peakRss: number
  /** Datagrams the server reported dropped (ours only). */
  drops: number
  /** The part of drops the kernel dropped. */
  kernelDrops: number
  /** What the sender's counters added up to. */
  counted: number
}

/** The kernel's UDP counters (the Udp: lines of /proc/net/snmp), for BENCH_E2E_VERBOSE. */
function udpCounters(): Record<string, number> {
  const [names, values] = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.split(/\s+/))
  return Object.fromEntries(names!.map((name, i) => [name, Number(values![i])]))
}

/** Packets every CPU's input backlog dropped (net.core.netdev_max_backlog): the second column of softnet_stat. */
function softnetDrops(): number {
  return fs.readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n').reduce((sum, l) => sum + parseInt(l.split(' ')[1]!, 16), 0)
}

/** Resident memory of a process now, MB. */
export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024
}

/** Runs the sender, then waits until the server has flushed all it got (a flush adding nothing). */
export async function phase(server: Server, args: string[], senderEnv: Record<string, string> = {}): Promise<Phase> {
  const pid = server.child.pid!
  await server.received.nextFlush()
  const cpu0 = cpuSeconds(pid)
  const received0 = server.received.total
  const drops0 = server.received.drops
  const kernelDrops0 = server.received.kernelDrops
  const counted0 = server.received.counted
  const packets0 = server.received.packets
  const udp0 = VERBOSE ? udpCounters() : {}
  const softnet0 = VERBOSE ? softnetDrops() : 0
  // Not execFileSync: the stand-in for Graphite must keep reading the flushes made meanwhile.
  const env = { ...process.env, ...senderEnv }
  let peakRss = rssMb(pid)
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(pid))), 100)
  const [file, argv] = args[0]!.startsWith('node-') ? [process.execPath, [NODE_SENDER, ...args]] : [SENDER, args]
  const { stdout: out } = await promisify(execFile)(file, argv, { encoding: 'utf8', env })
  const [, sent, units, seconds] = out.trim().split(' ').map(Number) as [number, number, number, number]
  const flushes: number[] = []
  for (let i = 0; i < 15; i++) {
    flushes.push(await server.received.nextFlush())
    // Two running: one flush may come while the server is still busy with a backlog.
    if (flushes.at(-1) === 0 && flushes.at(-2) === 0) break
  }
  clearInterval(sampler)
  const p = {
    sent,
    units,
    seconds,
    received: server.received.total - received0, cpu: cpuSeconds(pid) - cpu0, peakRss, drops: server.received.drops - drops0,
    kernelDrops: server.received.kernelDrops - kernelDrops0,
    counted: server.received.counted - counted0,
  }
  if (VERBOSE) {
    const packets = server.received.packets - packets0
    const udp = udpCounters()
    const queued = udpSockets('127.0.0.1').find((row) => row.port === server.udpPort)?.rxQueue ?? -1
    process.stderr.write(
      `  ${server.name} ${args.join(' ')}: sent ${sent} in ${units}, received ${p.received} in ${packets} packets, reported dropped ${p.drops}, ` +
        `CPU ${p.cpu.toFixed(3)} s, ` +
        `flushes after ${flushes.join(' ')}; kernel: ${udp.InDatagrams! - udp0.InDatagrams!} UDP datagrams in, ${udp.RcvbufErrors! - udp0.RcvbufErrors!} receive buffer errors, ` +
        `${softnetDrops() - softnet0} backlog drops, ${queued} bytes left queued on the socket\n`,
    )
  }
  return p
}

const udpArgs = (s: Server, per: number, rate: number, seconds: number): string[] =>
  ['udp', '127.0.0.1', String(s.udpPort), String(per), String(rate), String(seconds)]

async function sustained(s: Server, per: number, rates: number[]): Promise<number> {
  let best = 0
  for (const rate of rates) {
    const p = await phase(s, udpArgs(s, per, rate, STEP_S))
    if (1 - p.received / p.sent > MAX_LOSS) {
      process.stderr.write(`${s.name}: ${per}/datagram at ${rate}/s lost ${p.sent - p.received} of ${p.sent} (it reported ${p.drops} datagrams dropped)\n`)
      break
    }
    // A sender that could not keep this rate measured itself, not the server.
    if (p.sent < 0.9 * rate * STEP_S) {
      process.stderr.write(`${s.name}: the sender reached only ${Math.round(p.sent / STEP_S)} of ${rate} metrics/s\n`)
      break
    }
    best = rate
  }
  return best
}

type Results = Map<string, number>

/**
 * Memory per key, on a server of its own (fresh, so that nothing earlier
 * weighs on it, and nothing after it carries these keys in every flush):
 * the peak RSS, with whatever backlog the server lets build up.
 */
async function measureMemory(s: Server, r: Results): Promise<void> {
  process.stderr.write(`${s.name}: ${MEMORY_KEYS} keys\n`)
  const p = await phase(s, udpArgs(s, 20, 200_000, MEMORY_PHASE_S), { SENDER_KEYS: String(MEMORY_KEYS) })
  r.set(`UDP, 20/datagram, ${MEMORY_KEYS / 1000}k keys, 200k metrics/s: peak RSS MB`, p.peakRss)
  r.set(`UDP, 20/datagram, ${MEMORY_KEYS / 1000}k keys, 200k metrics/s: loss %`, (100 * (p.sent - p.received)) / p.sent)
}

/** `step` for each server in turn, with its results. */
async function eachServer(
  servers: readonly Server[],
  results: readonly Results[],
  step: (s: Server, r: Results, i: number) => Promise<void>,
): Promise<void> {
  for (const [i, s] of servers.entries()) await step(s, results[i]!, i)
}

/**
 * Every workload on both servers (both running), one right after the other:
 * a change in the machine's load between workloads then weighs on both
 * alike, where measuring one server completely before the other skewed
 * the ratios by whatever the machine did in between.
 */
async function measure(servers: readonly Server[], results: readonly Results[]): Promise<void> {
  const each = (step: (s: Server, r: Results, i: number) => Promise<void>): Promise<void> => eachServer(servers, results, step)
  /** ROUNDS times in turn, keeping the median of what `step` measures (the highest loss). */
  const rounds = async (step: (s: Server) => Promise<[string, number][]>): Promise<void> => {
    const samples = servers.map(() => new Map<string, number[]>())
    for (let round = 0; round < ROUNDS; round++) {
      await each(async (s, _, i) => {
        for (const [label, value] of await step(s)) samples[i]!.set(label, [...(samples[i]!.get(label) ?? []), value])
      })
    }
    for (const [i, byLabel] of samples.entries()) {
      for (const [label, values] of byLabel) results[i]!.set(label, label.endsWith('loss %') ? Math.max(...values) : median(values))
    }
  }
  /**
   * `args` ends with the duration in seconds; a first run of WARMUP_S is not
   * counted. `flatOut`: the sender goes as fast as the server lets it, and
   * the rate it got is a figure too.
   */
  const fixed = (label: string, args: (s: Server) => string[] | null, flatOut = false): Promise<void> =>
    rounds(async (s) => {
      const a = args(s)
      if (a === null) return []
      if (WARMUP_S > 0) await phase(s, [...a.slice(0, -1), String(WARMUP_S)])
      const p = await phase(s, a)
      return [
        [`${label}: CPU-seconds per million metrics`, (p.cpu / p.received) * 1e6],
        [`${label}: loss %`, (100 * (p.sent - p.received)) / p.sent],
        ...(flatOut ? [[`${label}: metrics/s`, p.received / p.seconds] as [string, number]] : []),
      ]
    })
  process.stderr.write('fixed rates\n')
  await fixed('UDP, 20/datagram, 200k metrics/s', (s) => udpArgs(s, 20, 200_000, PHASE_S))
  await fixed('UDP, 1/datagram, 40k metrics/s', (s) => udpArgs(s, 1, 40_000, PHASE_S))
  await fixed('TCP, 1 connection, 300k metrics/s', (s) => ['tcp', '127.0.0.1', String(s.tcpPort), '300000', String(PHASE_S)])
  await fixed('Unix stream, 1 connection, 300k metrics/s', (s) => ['unix', s.unixPath, '300000', String(PHASE_S)])
  // Many local emitters write each line as it comes: a server that reads late makes their write() wait.
  await fixed('Unix stream, one line per write, client flat out', (s) => ['unix-lines', s.unixPath, String(PHASE_S)], true)
  await fixed('Unix datagram, 1/datagram, 40k metrics/s', (s) =>
    s.unixgramPath === null ? null : ['unixgram', s.unixgramPath, '1', '40000', String(PHASE_S)],
  )
  process.stderr.write('short-lived connections\n')
  for (const [label, args] of [
    ['TCP', (s: Server) => ['conn-tcp', '127.0.0.1', String(s.tcpPort), String(CONNECTIONS)]],
    ['Unix stream', (s: Server) => ['conn-unix', s.unixPath, String(CONNECTIONS)]],
  ] as const) {
    await rounds(async (s) => {
      const p = await phase(s, args(s))
      return [[`${label}, one line per connection: CPU µs per connection`, (p.cpu / p.units) * 1e6]]
    })
  }
  await measureSustained(servers, results)
}

/** The sustained UDP rates, each server's whole ladder in turn. */
async function measureSustained(servers: readonly Server[], results: readonly Results[]): Promise<void> {
  const each = (step: (s: Server, r: Results) => Promise<void>): Promise<void> => eachServer(servers, results, step)
  process.stderr.write('sustained rates\n')
  await each(async (s, r) => {
    r.set('UDP, 1/datagram: sustained metrics/s', await sustained(s, 1, [25_000, 50_000, 75_000, 100_000, 150_000, 200_000, 300_000, 400_000, 600_000, 800_000]))
  })
  await each(async (s, r) => {
    r.set(
      'UDP, 20/datagram: sustained metrics/s',
      await sustained(s, 20, [100_000, 200_000, 400_000, 600_000, 800_000, 1_200_000, 1_600_000, 2_400_000, 3_200_000, 4_800_000, 6_400_000]),
    )
  })
}

export function format(v: number | undefined): string {
  if (v === undefined) return 'n/a'
  if (v >= 1000) return `${Math.round(v / 1000)}k`
  return v >= 10 ? v.toFixed(0) : v.toFixed(2)
}

export function buildSender(): void {
  fs.mkdirSync(path.dirname(SENDER), { recursive: true })
  execFileSync('gcc', ['-O2', '-o', SENDER, path.join(ROOT, 'bench/e2e/sender.c')])
}

export async function stopServer(server: Server): Promise<void> {
  const exited = once(server.child, 'exit')
  server.child.kill('SIGTERM')
  server.received.close()
  await exited
}

/** BENCH_E2E_ONLY=memory: the memory row alone, for each build in turn, several times. */
async function memoryOnly(): Promise<void> {
  const mains = (process.env.BENCH_E2E_MAINS ?? OURS_MAIN).split(':').map((m) => path.resolve(m))
  const repeat = Number(process.env.BENCH_E2E_REPEAT ?? 1)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsd-bench-'))
  const lines = ['| run | build | peak RSS MB | loss % |', '|---|---|---|---|']
  for (let run = 1; run <= repeat; run++) {
    for (const main of mains) {
      const server = await startServer('statsd-ts', fs.mkdtempSync(path.join(dir, 'memory-')), main)
      const r: Results = new Map()
      try {
        await measureMemory(server, r)
      } finally {
        await stopServer(server)
      }
      const [rss, loss] = [...r.values()]
      lines.push(`| ${run} | ${main} | ${rss!.toFixed(1)} | ${loss!.toFixed(2)} |`)
      process.stderr.write(`${lines.at(-1)}\n`)
    }
  }
  fs.rmSync(dir, { recursive: true, force: true })
  process.stdout.write(lines.join('\n') + '\n')
}

async function main(): Promise<void> {
  buildSender()
  if (process.env.BENCH_E2E_ONLY === 'memory') return memoryOnly()
  if (process.env.BENCH_E2E_ONLY === 'targets') return targetsOnly()
  if (process.env.BENCH_E2E_ONLY === 'relay') return relayOnly()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsd-bench-'))
  const names = ['statsd-ts', 'Etsy 0.9'] as const
  const results: Results[] = names.map(() => new Map())
  const servers: Server[] = []
  const sustainedOnly = process.env.BENCH_E2E_ONLY === 'sustained'
  try {
    for (const name of names) servers.push(await startServer(name, dir))
    await (sustainedOnly ? measureSustained : measure)(servers, results)
  } finally {
    await Promise.all(servers.map(stopServer))
  }
  for (const [i, name] of sustainedOnly ? [] : names.entries()) {
    const server = await startServer(name, fs.mkdtempSync(path.join(dir, 'memory-')))
    try {
      await measureMemory(server, results[i]!)
    } finally {
      await stopServer(server)
    }
  }
  const relay = sustainedOnly ? [] : await relayRows(dir)
  fs.rmSync(dir, { recursive: true, force: true })
  const [ours, etsy] = results as [Results, Results]
  const lines = [
    `UDP receive buffer ${RECV_BUFFER} bytes for both; ratio = times better than Etsy (cost: Etsy / ours; rate: ours / Etsy).`,
    '',
    '| workload | statsd-ts | Etsy 0.9 | ratio |',
    '|---|---|---|---|',
  ]
  for (const [label, value] of ours) {
    const theirs = etsy.get(label)
    let ratio = 'n/a'
    if (theirs !== undefined && !label.includes('loss')) {
      const better = label.endsWith('metrics/s') ? value / theirs : theirs / value
      ratio = Number.isFinite(better) ? `${better.toFixed(2)}x` : 'n/a'
    }
    lines.push(`| ${label} | ${format(value)} | ${format(theirs)} | ${ratio} |`)
  }
  if (relay.length > 0) lines.push('', '| relay workload | statsd-ts relay | proxy.js | ratio |', '|---|---|---|---|', ...relay)
  process.stdout.write(lines.join('\n') + '\n')
}

/** BENCH_E2E_ONLY=relay: the relay rows alone. */
async function relayOnly(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsd-bench-'))
  try {
    const rows = await relayRows(dir)
    process.stdout.write(['| relay workload | statsd-ts relay | proxy.js | ratio |', '|---|---|---|---|', ...rows].join('\n') + '\n')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:e2e failed: ${(err as Error).stack}\n`)
    process.exit(1)
  })
}
