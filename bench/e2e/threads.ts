import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { buildSender, phase, SENDER, startServer, stopServer } from './run'

/*
 * Where a server's CPU goes, thread by thread (issue 25: workers 2 against 1):
 *
 *   node build/bench/e2e/threads.js cpu [workers] [keys]
 *     1k (or `keys`) keys of counters, 20 a datagram, 400k metrics/s for 3 s
 *     after a 2 s warm-up, as bench:e2e's target rows: each thread's CPU
 *     time (schedstat) and voluntary context switches over the phase, per
 *     million metrics, by thread id and name ("statsd reader" is a datagram
 *     reader thread, the main thread's id is the process id; Node names no
 *     other thread). Timings swing with the machine's load: compare runs
 *     made one after the other.
 *   node build/bench/e2e/threads.js instructions [workers]
 *     The same traffic at 40k metrics/s for 5 s, the server under callgrind
 *     (valgrind must be installed): user-space instructions per metric of
 *     each thread, counted from after a warm-up until everything sent was
 *     flushed. Stable across runs; a low rate weighs per-flush and
 *     per-second costs more than 400k/s would.
 *
 * BENCH_MAIN picks another build's build/src/main.js; BENCH_NODE_ARGS gives
 * the server node flags in cpu mode (--cpu-prof --cpu-prof-dir=D); BENCH_CALLGRIND_DIR
 * keeps callgrind's files there (one per thread, for callgrind_annotate).
 */

const ROOT = path.resolve(__dirname, '../../..')
const MAIN = path.resolve(process.env.BENCH_MAIN ?? path.join(ROOT, 'build/src/main.js'))
const [mode = 'cpu', workersArg = '1', keysArg = '1000'] = process.argv.slice(2)
const workers = Number(workersArg)

function threadFigures(pid: number): Map<string, { ns: number; switches: number }> {
  const out = new Map<string, { ns: number; switches: number }>()
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const dir = `/proc/${pid}/task/${tid}`
      const name = fs.readFileSync(`${dir}/comm`, 'utf8').trim()
      const ns = Number(fs.readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0])
      const switches = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`${dir}/status`, 'utf8'))?.[1] ?? 0)
      out.set(`${tid} ${name}${Number(tid) === pid ? ' (main)' : ''}`, { ns, switches })
    } catch {
      // The thread has just exited.
    }
  }
  return out
}

async function cpu(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsd-threads-'))
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter((a) => a !== '')
  const server = await startServer('statsd-ts', dir, MAIN, nodeArgs, { recvBuffer: 64 << 20, graphiteQueueBytes: 1 << 30, flushIntervalMs: 2000, workers })
  const keys = { SENDER_KEYS: keysArg, SENDER_TYPES: keysArg === '1000' ? '1' : '3' }
  const udp = (seconds: number): string[] => ['udp', '127.0.0.1', String(server.udpPort), '20', '400000', String(seconds)]
  try {
    await phase(server, udp(2), keys)
    const before = threadFigures(server.child.pid!)
    const p = await phase(server, udp(3), keys)
    const after = threadFigures(server.child.pid!)
    const millions = p.received / 1e6
    process.stdout.write(`workers ${workers}, ${keysArg} keys: ${p.received} of ${p.sent} metrics, ${(p.cpu / millions).toFixed(3)} CPU-s per million\n`)
    const rows = [...after].map(([k, v]) => [k, (v.ns - (before.get(k)?.ns ?? 0)) / 1e9, v.switches - (before.get(k)?.switches ?? 0)] as const)
    for (const [k, s, switches] of rows.filter(([, s]) => s >= 0.002).sort((a, b) => b[1] - a[1])) {
      process.stdout.write(`  ${k.padEnd(28)} ${(s / millions).toFixed(4)} CPU-s per million, ${switches} wake-ups\n`)
    }
  } finally {
    await stopServer(server)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function instructions(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsd-threads-'))
  let received = 0
  let flushes = 0
  // Stands in for Graphite: sums metrics_received.
  const graphite = net.createServer((socket) => {
    let text = ''
    socket.on('data', (d) => (text += d.toString('latin1')))
    socket.on('end', () => {
      for (const m of text.matchAll(/^stats_counts\.statsd\.metrics_received (\d+)/gm)) received += Number(m[1])
      flushes++
    })
  })
  await new Promise<void>((resolve) => graphite.listen(0, '127.0.0.1', resolve))
  const udpPort = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
  const config = {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: udpPort, recvBufferSize: 64 << 20 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port: (graphite.address() as net.AddressInfo).port }],
    flushInterval: 2000,
    log: { level: 'warn' },
    admin: false,
    mgmt: false,
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config))
  const out = path.join(dir, 'callgrind.out')
  const child = spawn('valgrind', ['--tool=callgrind', '--separate-threads=yes', `--callgrind-out-file=${out}`, process.execPath, MAIN, path.join(dir, 'config.json')], {
    stdio: 'ignore',
    env: { ...process.env, STATSD_TS_WORKERS: String(workers) },
  })
  const until = async (done: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 1200 && !done(); i++) await new Promise((r) => setTimeout(r, 100))
    if (!done()) throw new Error(`timed out waiting for ${what}`)
  }
  const send = (): number => Number(execFileSync(SENDER, ['udp', '127.0.0.1', String(udpPort), '20', '40000', '5']).toString().trim().split(' ')[1])
  // Every metric sent is in a flush once two flushes in a row add nothing.
  const settle = async (): Promise<void> => {
    for (let last = -1; last !== received; ) {
      last = received
      const seen = flushes
      await until(() => flushes >= seen + 2, 'two flushes')
    }
  }
  try {
    await until(() => flushes >= 2, 'the server under valgrind')
    send()
    await settle()
    execFileSync('callgrind_control', ['--zero', String(child.pid)], { stdio: 'ignore' })
    const from = received
    const flushesFrom = flushes
    const sent = send()
    await settle()
    execFileSync('callgrind_control', ['--dump', String(child.pid)], { stdio: 'ignore' })
    const metrics = received - from
    // Each flush costs the same whatever the traffic, and the window holds 5 or 6 of them: say how many, to compare runs.
    process.stdout.write(`workers ${workers}: ${metrics} of ${sent} metrics, ${flushes - flushesFrom} flushes; user-space instructions per metric, by thread (callgrind's numbering, 1 = main)\n`)
    let total = 0
    const rows = fs
      .readdirSync(dir)
      .filter((f) => /^callgrind\.out\.\d+-\d+$/.test(f))
      .map((f) => [Number(f.split('-').at(-1)), Number(/^(?:summary|totals): (\d+)/m.exec(fs.readFileSync(path.join(dir, f), 'utf8'))?.[1] ?? 0)] as const)
    for (const [thread, count] of rows.sort((a, b) => b[1] - a[1])) {
      total += count
      if (count / metrics >= 1) process.stdout.write(`  thread ${thread}: ${(count / metrics).toFixed(0)}\n`)
    }
    process.stdout.write(`  all: ${(total / metrics).toFixed(0)}\n`)
  } finally {
    child.kill('SIGKILL')
    graphite.close()
    const keep = process.env.BENCH_CALLGRIND_DIR
    if (keep !== undefined) {
      fs.mkdirSync(keep, { recursive: true })
      for (const f of fs.readdirSync(dir)) if (f.startsWith('callgrind.out')) fs.copyFileSync(path.join(dir, f), path.join(keep, f))
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (!fs.existsSync(SENDER)) buildSender()
;(mode === 'instructions' ? instructions() : cpu()).catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`)
  process.exit(1)
})
