import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { StatsdServer } from '../src/server'
import { startFakeGraphite } from './helpers/fake-graphite'
import { graphiteValues, selfMetrics } from './helpers/graphite-lines'
import { udpSocketOn } from './helpers/load'
import { sendUdp, withTimeout } from './helpers/net'
import { shardOfLine } from '../src/aggregate/shards/route'
import { withEnv } from './helpers/env'

/*
 * Reading never waits for aggregation (issue 25): UDP is read on a native
 * thread of its own, so while the JavaScript thread is stalled (here a
 * synchronous 2 s busy loop, as a long flush or a GC pause would be), the
 * datagrams wait in the reader's queue, not in the kernel, and none is lost.
 * With the JavaScript reader (main before issue 25, or STATSD_TS_NATIVE=off)
 * this test fails: the kernel's buffer fills within a fraction of the stall
 * and drops the rest. With two aggregation threads, one of them stalls
 * while the reader thread keeps routing lines into its lanes
 * (src/aggregate/shards/lanes.ts).
 */

const PER_DATAGRAM = 20
const LINE = 'reader.thread.stall.counter:1|c\n'
/** 10k datagrams/s of 20 metrics: 200k metrics/s. */
const RATE = 10_000
const SECONDS = 3
const STALL_MS = 2_000

/** A bounded loopback sender in another process: RATE datagrams/s for SECONDS; prints "started", then how many it sent. */
function startSender(port: number): { started: Promise<void>; sent: Promise<number> } {
  const script = `
    const dgram = require('node:dgram')
    const socket = dgram.createSocket('udp4')
    const payload = Buffer.from(${JSON.stringify(LINE)}.repeat(${PER_DATAGRAM}))
    const total = ${RATE * SECONDS}
    const start = Date.now()
    let sent = 0
    let inFlight = 0
    const tick = () => {
      const due = Math.min(total, Math.floor(((Date.now() - start) * ${RATE}) / 1000))
      for (; sent < due; sent++) {
        inFlight++
        socket.send(payload, ${port}, '127.0.0.1', () => {
          if (--inFlight === 0 && sent === total) socket.close(() => console.log(sent))
        })
      }
      if (sent < total) setTimeout(tick, 1)
    }
    console.log('started')
    tick()
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  let onStarted: () => void = () => {}
  const started = new Promise<void>((resolve) => (onStarted = resolve))
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    if (out.includes('started')) onStarted()
  })
  const sent = once(child, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`sender exited with ${code}`)
    return Number(out.split('\n')[1])
  })
  return { started, sent }
}

/**
 * 200k metrics/s of UDP for SECONDS, `stall` called 300 ms in: every metric
 * must arrive, none dropped by the kernel or the queue, and the kernel must
 * hold next to nothing once the stall is over.
 */
async function throughStall(t: Test, stall: (to: { host: string; port: number }) => Promise<void>): Promise<{ longestFlushGapMs: number }> {
  const { graphite, port: graphitePort } = await startFakeGraphite(t)
  const flushTimes: number[] = []
  graphite.on('flush', () => flushTimes.push(Date.now()))
  const config = configSchema.parse({
    // 4 MiB (8 MiB as the kernel counts it, if net.core.rmem_max allows): a stall still sends it more than it can hold.
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0, recvBufferSize: 4 << 20 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port: graphitePort }],
    flushInterval: 1_000,
    admin: false,
    mgmt: false,
  })
  const server = await StatsdServer.start(config, silentLogger())
  // The first gap is from the start: a stall may come before the first flush.
  flushTimes.push(Date.now())
  let stopped = false
  t.teardown(() => (stopped ? undefined : server.stop()))
  const to = { host: '127.0.0.1', port: (server.listeners[0]!.boundAddress as { port: number }).port }

  const sender = startSender(to.port)
  await sender.started
  await new Promise((resolve) => setTimeout(resolve, 300))
  await stall(to)
  const kernelAfterStall = udpSocketOn(to)
  const sent = await withTimeout(sender.sent, 30_000, 'the sender')
  t.equal(sent, RATE * SECONDS, 'the sender sent everything')
  const expected = sent * PER_DATAGRAM

  let received = 0
  let queueDrops = 0
  await withTimeout(
    new Promise<void>((resolve) => {
      const check = (text: string): void => {
        const values = graphiteValues(text)
        const added = Number(values.get('stats_counts.reader.thread.stall.counter') ?? 0)
        received += added
        queueDrops += selfMetrics(values).get('queue.dropped_packets')?.value ?? 0
        // All there, or a flush after the sender ended brought nothing: no more will come.
        if (received >= expected || (received > 0 && added === 0)) resolve()
      }
      graphite.flushes.forEach(check)
      graphite.on('flush', check)
    }),
    30_000,
    `${expected} metrics in the flushes`,
  )
  stopped = true
  await server.stop()

  const stallDatagrams = (RATE * STALL_MS) / 1000
  t.ok(
    stallDatagrams * LINE.length * PER_DATAGRAM > kernelAfterStall.rxQueue + 8 * 1024 * 1024,
    `the stall sent more (${stallDatagrams} datagrams) than the kernel's buffer could have held`,
  )
  t.equal(kernelAfterStall.drops, 0, 'the kernel dropped none during the stall')
  t.ok(kernelAfterStall.rxQueue < 1024 * 1024, `${kernelAfterStall.rxQueue} bytes waited in the kernel at the end of the stall`)
  t.equal(server.listeners[0]!.status?.().kernelDrops, 0, 'the server reports no kernel drops')
  t.equal(queueDrops, 0, 'no queue drops')
  t.equal(received, expected, `all ${expected} metrics arrived`)
  return { longestFlushGapMs: Math.max(...flushTimes.map((at, i) => (i === 0 ? 0 : at - flushTimes[i - 1]!))) }
}

t.test('a 2 s stall of the aggregating thread during 200k metrics/s of UDP: the datagrams wait in the reader queue, none is lost', async (t) => {
  // One thread: the stall below is the aggregation's.
  withEnv(t, { STATSD_TS_WORKERS: '1' })
  await throughStall(t, async () => {
    const stallStart = Date.now()
    while (Date.now() - stallStart < STALL_MS) {
      // The aggregating thread does nothing else: no parsing, no flush, no socket event.
    }
  })
})

t.test('a 2 s stall of one of two aggregation threads: its lines wait in its lanes, none is lost', async (t) => {
  const trigger = Array.from({ length: 64 }, (_, i) => `reader.thread.stall.now${i}`).find(
    (key) => shardOfLine(Buffer.from(key), 0, key.length, false, 2) === shardOfLine(Buffer.from(LINE), 0, LINE.length - 1, false, 2),
  )!
  // The shard thread handed the trigger line busy-loops STALL_MS (src/aggregate/shards/shard-worker.ts, tests only).
  withEnv(t, { STATSD_TS_WORKERS: '2', STATSD_TS_TEST_SHARD_STALL: `${trigger}:${STALL_MS}` })
  const { longestFlushGapMs } = await throughStall(t, async (to) => {
    await sendUdp(to, [`${trigger}:1|c`])
    // The kernel is looked at near the end of the stall: the main thread goes on meanwhile.
    await new Promise((resolve) => setTimeout(resolve, STALL_MS - 200))
  })
  // A flush waits for every shard's part: the stalled one held it back (1 s flushes).
  t.ok(longestFlushGapMs > STALL_MS - 500, `the shard did stall: ${longestFlushGapMs} ms without a flush`)
})
