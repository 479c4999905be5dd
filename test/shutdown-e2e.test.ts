import path from 'node:path'
import t from 'tap'
import { startFakeGraphite } from './helpers/fake-graphite'
import { graphiteValues, selfMetrics } from './helpers/graphite-lines'
import { blast, lines, udpSocketOn } from './helpers/load'
import { sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * Issue 6's end-to-end check: 200,000 metrics spread over UDP, TCP and a
 * Unix socket, SIGTERM the moment the senders are done, and the exact totals
 * in the final flush; ten runs in a row, each a fresh server.
 */

const RUNS = 10
const PER_DATAGRAM = 50
const UDP_DATAGRAMS = 1_320 // 66,000 metrics
const STREAM_BLOCK = 6_700 // lines per write
const STREAM_WRITES = 5 // per connection; 2 connections per socket type: 67,000 metrics each
const RECV_BUFFER = 8 * 1024 * 1024

t.test(`200,000 metrics over UDP, TCP and Unix, SIGTERM at once: exact totals, ${RUNS} runs in a row`, async (t) => {
  for (let run = 1; run <= RUNS; run++) {
    const { graphite, port } = await startFakeGraphite(t)
    const dir = shortTempDir(t)
    const server = await ServerProcess.start(dir, {
      listeners: [
        { type: 'udp', address: '127.0.0.1', port: 0, recvBufferSize: RECV_BUFFER },
        { type: 'tcp', address: '127.0.0.1', port: 0 },
        { type: 'unix', path: path.join(dir, 'statsd.sock') },
      ],
      backends: [{ type: 'graphite', host: '127.0.0.1', port }],
      flushInterval: 600_000,
    })
    t.teardown(() => server.kill())
    const { udp, tcp, unix } = server.endpoints

    const datagram = 'e2e.udp:1|c\n'.repeat(PER_DATAGRAM)
    const block = { tcp: lines('e2e.tcp:1|c\n', STREAM_BLOCK), unix: lines('e2e.unix:1|c\n', STREAM_BLOCK) }
    await Promise.all([
      sendUdp(udp[0]!, Array.from({ length: UDP_DATAGRAMS }, () => datagram)),
      blast(tcp[0]!, block.tcp, STREAM_WRITES),
      blast(tcp[0]!, block.tcp, STREAM_WRITES),
      blast(unix[0]!, block.unix, STREAM_WRITES),
      blast(unix[0]!, block.unix, STREAM_WRITES),
    ])
    const kernelDrops = udpSocketOn(udp[0]!).drops
    t.equal(await server.stop(), 0, `run ${run}: clean exit`)

    t.equal(graphite.flushes.length, 1, `run ${run}: one flush, the final one`)
    const out = graphiteValues(graphite.flushes[0] ?? '')
    const streamTotal = String(2 * STREAM_WRITES * STREAM_BLOCK)
    const counted = {
      udp: out.get('stats_counts.e2e.udp'),
      tcp: out.get('stats_counts.e2e.tcp'),
      unix: out.get('stats_counts.e2e.unix'),
    }
    t.same(counted, { udp: String(UDP_DATAGRAMS * PER_DATAGRAM), tcp: streamTotal, unix: streamTotal }, `run ${run}: exact totals`)
    t.equal(kernelDrops, 0, `run ${run}: no kernel drops`)
    t.equal(selfMetrics(out).get('queue.dropped_packets')?.value, 0, `run ${run}: no queue drops`)
  }
})
