import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { NODE_FLAGS } from '../../src/core/node-flags'
import { nativeReader, readDatagrams } from '../../src/listeners/datagram/native-reader'
import { IngestCounters } from '../../src/core/ingest-counters'
import { silentLogger } from '../../src/log'
import { DatagramBatch } from '../../src/parse/packets'
import { PacketQueue } from '../../src/queue/queue'
import { RECV_BUFFER, SENDER, cpuSeconds, freePort } from './run'

/*
 * The relay row of `npm run bench:e2e` (alone: BENCH_E2E_ONLY=relay): this
 * relay and Etsy's proxy.js, started from the same proxy config, each in
 * front of three nodes of its own, take the same UDP load (20 lines per
 * datagram) in turn, rate after rate, until one loses more than 0.1 %. The
 * nodes are counting sinks in this process, read with the addon's recvmmsg
 * (proxy.js sends a datagram per line: a node:dgram sink would be what
 * loses). Reported: the highest rate each held, and CPU-s per million
 * lines at the highest rate both held.
 */

const RATES = [25_000, 50_000, 100_000, 200_000, 400_000, 800_000]
const PER_DATAGRAM = 20
const SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 3)
const MAX_LOSS = 0.001
const PROXY_JS = require.resolve('statsd/proxy.js')
const MAIN = path.resolve(__dirname, '../../src/main.js')

/** A node that only counts the lines it receives, and answers proxy.js's health check. */
class CountingNode {
  lines = 0
  readonly port: number
  adminport = 0
  private readonly counters = new IngestCounters()
  private readonly queue = new PacketQueue({ maxBytes: 1 << 30, maxPackets: 1 << 22 }, this.counters)
  private readonly reader
  private readonly mgmt = net.createServer((s) => {
    s.on('error', () => {})
    s.on('data', () => s.write('health: up\n'))
  })

  constructor() {
    const native = nativeReader()
    if (!('addon' in native)) throw new Error(`the relay bench needs the native reader: ${native.unavailable}`)
    const bound = native.addon.bindUdp('127.0.0.1', 0, RECV_BUFFER)
    this.port = bound.port
    this.queue.onReadable = () => setImmediate(() => this.count())
    this.reader = readDatagrams(native.addon, bound.fd, this.queue, this.counters, silentLogger(), () => {}, 0)
  }

  async start(): Promise<void> {
    this.mgmt.listen(0, '127.0.0.1')
    await once(this.mgmt, 'listening')
    this.adminport = (this.mgmt.address() as net.AddressInfo).port
  }

  private count(): void {
    for (let p = this.queue.shift(); p !== undefined; p = this.queue.shift()) {
      if (!(p instanceof DatagramBatch)) continue
      let start = 0
      for (let i = 0; i < p.count; i++) {
        const end = p.ends[i]!
        let lines = 0
        for (let at = p.slab.indexOf(10, start); at >= 0 && at < end; at = p.slab.indexOf(10, at + 1)) lines++
        // A proxy.js datagram is one line without its newline.
        if (end > start && p.slab[end - 1] !== 10) lines++
        this.lines += lines
        start = end
      }
      p.done()
    }
  }

  close(): void {
    this.reader.close()
    this.mgmt.close()
  }
}

interface Relay {
  name: string
  child: ChildProcess
  port: number
  nodes: CountingNode[]
}

async function startRelay(name: 'statsd-ts relay' | 'proxy.js', dir: string): Promise<Relay> {
  const nodes = [new CountingNode(), new CountingNode(), new CountingNode()]
  await Promise.all(nodes.map((n) => n.start()))
  const [port, mgmtPort] = [await freePort(), await freePort()]
  const nodeList = nodes.map((n) => ({ host: '127.0.0.1', port: n.port, adminport: n.adminport }))
  const config = path.join(dir, `${name === 'proxy.js' ? 'proxy.js' : 'relay.json'}`)
  // The same nodes and checks; ours in the native format, which can set the receive buffer proxy.js gets from etsy-recvbuf.
  fs.writeFileSync(
    config,
    name === 'proxy.js'
      ? `{ nodes: ${JSON.stringify(nodeList)}, address: '127.0.0.1', port: ${port}, mgmt_address: '127.0.0.1', mgmt_port: ${mgmtPort}, checkInterval: 10000 }`
      : JSON.stringify({
          listeners: [{ type: 'udp', address: '127.0.0.1', port, recvBufferSize: RECV_BUFFER }],
          admin: false,
          mgmt: { address: '127.0.0.1', port: mgmtPort },
          relay: { nodes: nodeList, checkIntervalMs: 10_000 },
        }),
  )
  const child =
    name === 'proxy.js'
      ? spawn(process.execPath, ['-r', path.join(__dirname, 'etsy-recvbuf.js'), PROXY_JS, config], {
          stdio: ['ignore', 'pipe', 'ignore'],
          env: { ...process.env, BENCH_RECV_BUFFER: String(RECV_BUFFER) },
        })
      : spawn(process.execPath, [...NODE_FLAGS, MAIN, config], { stdio: ['ignore', 'ignore', 'pipe'] })
  // Both say so when they listen: proxy.js on stdout, ours in its log.
  const output = name === 'proxy.js' ? child.stdout! : child.stderr!
  await new Promise<void>((resolve, reject) => {
    let text = ''
    output.on('data', (d: Buffer) => {
      text += d.toString()
      if (/server is up/.test(text)) resolve()
    })
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}): ${text}`)))
  })
  output.resume()
  return { name, child, port, nodes }
}

interface Step {
  sent: number
  received: number
  cpu: number
}

async function step(relay: Relay, rate: number): Promise<Step> {
  const total = (): number => relay.nodes.reduce((n, node) => n + node.lines, 0)
  const received0 = total()
  const cpu0 = cpuSeconds(relay.child.pid!)
  const args = ['udp', '127.0.0.1', String(relay.port), String(PER_DATAGRAM), String(rate), String(SECONDS)]
  const { stdout } = await promisify(execFile)(SENDER, args, { encoding: 'utf8' })
  const sent = Number(stdout.trim().split(' ')[1])
  // Until nothing more arrives for 300 ms.
  for (let last = -1; total() !== last; ) {
    last = total()
    await new Promise((r) => setTimeout(r, 300))
  }
  return { sent, received: total() - received0, cpu: cpuSeconds(relay.child.pid!) - cpu0 }
}

async function stop(relay: Relay): Promise<void> {
  const exited = once(relay.child, 'exit')
  relay.child.kill('SIGTERM')
  await exited
  for (const node of relay.nodes) node.close()
}

/** The relay rows, as Markdown table lines for run.ts's table (label, ours, proxy.js, ratio). */
export async function relayRows(dir: string): Promise<string[]> {
  const relays = [await startRelay('statsd-ts relay', dir), await startRelay('proxy.js', dir)]
  const held = [0, 0]
  const done = [false, false]
  const cpuPerMillion = new Map<number, [number, number]>()
  try {
    for (const rate of RATES) {
      const steps: (Step | undefined)[] = []
      for (const [i, relay] of relays.entries()) {
        if (done[i]) continue
        const s = await step(relay, rate)
        const loss = 1 - s.received / s.sent
        process.stderr.write(`${relay.name} ${rate} lines/s: sent ${s.sent}, delivered ${s.received} (loss ${(100 * loss).toFixed(2)} %), CPU ${s.cpu.toFixed(2)} s\n`)
        // A sender that could not keep the rate measured itself, not the relay.
        if (loss > MAX_LOSS || s.sent < 0.9 * rate * SECONDS) done[i] = true
        else [held[i], steps[i]] = [rate, s]
      }
      const [a, b] = steps
      if (a !== undefined && b !== undefined) cpuPerMillion.set(rate, [a.cpu / (a.sent / 1e6), b.cpu / (b.sent / 1e6)])
      if (done.every(Boolean)) break
    }
  } finally {
    await Promise.all(relays.map(stop))
  }
  const [ours, theirs] = held as [number, number]
  const rows = [
    `| relay, UDP 20/datagram, 3 nodes: highest rate with loss <= 0.1 %, lines/s | ${ours} | ${theirs} | ${theirs > 0 ? (ours / theirs).toFixed(2) + 'x' : 'n/a'} |`,
  ]
  const top = Math.max(0, ...cpuPerMillion.keys())
  if (top > 0) {
    const [a, b] = cpuPerMillion.get(top)!
    rows.push(`| relay at ${top / 1000}k lines/s (both held it): CPU-s per million lines | ${a.toFixed(3)} | ${b.toFixed(3)} | ${(b / a).toFixed(2)}x |`)
  }
  return rows
}
