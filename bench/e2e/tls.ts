import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { NODE_FLAGS } from '../../src/core/node-flags'
import { makeAuthority } from '../../test/helpers/certs'
import { median } from '../median'
import { buildSender, freePort, phase, ReceivedCounter, type Server } from './run'

/*
 * `npm run bench:tls`: what TLS costs on TCP ingest. One connection at
 * 300k metrics/s, 1000 keys, from the same Node sender (node-sender.ts),
 * through three paths of this server, measured in turn in the same run: plain TCP on libuv handles (the default), plain
 * TCP on net.Socket (STATSD_TS_FAST_STREAMS=off, the path TLS must take),
 * and TLS. CPU is the server process's, per million metrics received.
 * BENCH_E2E_SECONDS (default 3) per phase, after a 2 s warm-up;
 * BENCH_TLS_ROUNDS (default 3) rounds, the median kept.
 */

const PHASE_S = Number(process.env.BENCH_E2E_SECONDS ?? 3)
const WARMUP_S = 2
const ROUNDS = Number(process.env.BENCH_TLS_ROUNDS ?? 3)
const RATE = 300_000
const MAIN = path.resolve(__dirname, '../../src/main.js')

async function start(dir: string, name: string, listeners: object[], env: NodeJS.ProcessEnv = process.env): Promise<Server> {
  const received = new ReceivedCounter()
  const config = path.join(dir, `${name}.json`)
  fs.writeFileSync(
    config,
    JSON.stringify({ listeners, backends: [{ type: 'graphite', host: '127.0.0.1', port: await received.port }], flushInterval: 1000, admin: false, mgmt: false, log: { level: 'warn' } }),
  )
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, config], { stdio: 'ignore', env })
  if ((await received.nextFlush(15_000)) < 0) throw new Error(`${name} did not start`)
  return { name, child, received, udpPort: 0, tcpPort: 0, unixPath: '', unixgramPath: null }
}

async function main(): Promise<void> {
  buildSender()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statsd-bench-tls-'))
  const ca = makeAuthority()
  const pair = ca.issue('localhost', { server: true })
  const files = { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') }
  fs.writeFileSync(files.ca, ca.cert)
  fs.writeFileSync(files.cert, pair.cert)
  fs.writeFileSync(files.key, pair.key)
  const ports = { handles: await freePort(), sockets: await freePort(), tls: await freePort() }
  const servers: Server[] = []
  try {
    const ours = await start(dir, 'tcp-and-tls', [
      { type: 'tcp', address: '127.0.0.1', port: ports.handles },
      { type: 'tcp', address: '127.0.0.1', port: ports.tls, tls: { certFile: files.cert, keyFile: files.key } },
    ])
    servers.push(ours)
    const sockets = await start(dir, 'tcp-net-socket', [{ type: 'tcp', address: '127.0.0.1', port: ports.sockets }], { ...process.env, STATSD_TS_FAST_STREAMS: 'off' })
    servers.push(sockets)
    const rows: [string, Server, (seconds: number) => string[]][] = [
      ['TCP, libuv handles', ours, (s) => ['node-tcp', '127.0.0.1', String(ports.handles), String(RATE), String(s)]],
      ['TCP, net.Socket', sockets, (s) => ['node-tcp', '127.0.0.1', String(ports.sockets), String(RATE), String(s)]],
      ['TLS (net.Socket)', ours, (s) => ['node-tls', '127.0.0.1', String(ports.tls), String(RATE), String(s), files.ca]],
    ]
    const cpu = new Map<string, number[]>()
    const loss = new Map<string, number>()
    const perRead = new Map<string, number[]>()
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [label, server, args] of rows) {
        await phase(server, args(WARMUP_S))
        const packets0 = server.received.packets
        const p = await phase(server, args(PHASE_S))
        perRead.set(label, [...(perRead.get(label) ?? []), p.received / (server.received.packets - packets0)])
        cpu.set(label, [...(cpu.get(label) ?? []), (p.cpu / p.received) * 1e6])
        loss.set(label, Math.max(loss.get(label) ?? 0, (100 * (p.sent - p.received)) / p.sent))
        process.stderr.write(`round ${round}, ${label}: ${((p.cpu / p.received) * 1e6).toFixed(3)} CPU-s per million\n`)
      }
    }
    const base = median(cpu.get(rows[0]![0])!)
    const lines = [
      `One connection, ${RATE / 1000}k metrics/s, ${PHASE_S} s phases, median of ${ROUNDS} rounds in turn.`,
      '',
      '| path | CPU-seconds per million metrics | times the libuv-handle TCP cost | metrics per read | loss % |',
      '|---|---|---|---|---|',
      ...rows.map(([label]) => {
        const m = median(cpu.get(label)!)
        return `| ${label} | ${m.toFixed(3)} | ${(m / base).toFixed(2)}x | ${median(perRead.get(label)!).toFixed(0)} | ${loss.get(label)!.toFixed(2)} |`
      }),
    ]
    process.stdout.write(lines.join('\n') + '\n')
  } finally {
    for (const s of servers) {
      const exited = once(s.child, 'exit')
      s.child.kill('SIGTERM')
      s.received.close()
      await exited
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:tls failed: ${(err as Error).stack}\n`)
  process.exit(1)
})
