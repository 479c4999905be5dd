import path from 'node:path'
import t, { type Test } from 'tap'
import { sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'
import { sendUnixgram } from './helpers/unixgram'

/*
 * The real server reading UDP both ways, recvmmsg (the default) and node:dgram
 * (STATSD_TS_NATIVE=off, what happens when the addon cannot be built), must
 * give the same flush for the same datagrams; unixgram needs the addon.
 */

const PAYLOADS = [
  'e2e.c:1|c\ne2e.c:2|c|@0.5\ne2e.t:10|ms',
  'e2e.t:20|ms\ne2e.g:5|g\ne2e.g:+2|g',
  'e2e.s:alice|s\ne2e.s:bob|s\nbad line',
  'e2e.tagged:1|c|#env:prod\r\n',
]

async function flushFor(t: Test, native: boolean, unixgram: boolean): Promise<{ flush: Record<string, unknown>; server: ServerProcess }> {
  process.env.STATSD_TS_NATIVE = native ? 'on' : 'off'
  const dir = shortTempDir(t)
  const socket = path.join(dir, 'g.sock')
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }, ...(unixgram ? [{ type: 'unixgram', path: socket }] : [])],
    backends: [{ type: 'console' }],
    flushInterval: 3_600_000,
  })
  for (const payload of PAYLOADS) await sendUdp(server.endpoints.udp[0]!, [payload])
  if (unixgram) await sendUnixgram(socket, PAYLOADS)
  t.equal(await server.stop(), 0)
  const lines = server.stdout.trim().split('\n')
  const flush = JSON.parse(lines.at(-1)!) as Record<string, unknown>
  delete flush.timestamp
  delete flush.processing_time
  // Kernel drops are reported per socket, and each run has its own port.
  const self = flush.self_metrics as Record<string, number>
  for (const name of Object.keys(self)) if (/^udp\..*\.kernel_drops$/.test(name)) delete self[name]
  return { flush, server }
}

t.test('UDP: recvmmsg and node:dgram give the same flush, and the start-up log says which', async (t) => {
  const native = await flushFor(t, true, false)
  const fallback = await flushFor(t, false, false)
  t.match(native.server.logged('udp reader: recvmmsg on a reader thread (native)'), [{}])
  t.match(fallback.server.logged('udp reader: node:dgram on the JavaScript thread (native reader thread unavailable)'), [
    { reason: /STATSD_TS_NATIVE=off/ },
  ])
  t.match(native.flush, { counters: { 'statsd.packets_received': 4, 'statsd.metrics_received': 10, 'statsd.bad_lines_seen': 1, 'e2e.c': 5, 'e2e.tagged;env=prod': 1 } })
  t.same(native.flush, fallback.flush)
})

t.test('unixgram: datagrams count like UDP ones', async (t) => {
  const { flush } = await flushFor(t, true, true)
  t.match(flush, { counters: { 'statsd.packets_received': 8, 'statsd.metrics_received': 20, 'e2e.c': 10 }, sets: { 'e2e.s': 2 } })
})

t.test('unixgram without the addon: start-up fails and says why', async (t) => {
  process.env.STATSD_TS_NATIVE = 'off'
  const dir = shortTempDir(t)
  const err = await ServerProcess.start(dir, { listeners: [{ type: 'unixgram', path: path.join(dir, 'g.sock') }] }).then(
    () => null,
    (e: Error) => e,
  )
  t.match(err?.message, /native datagram reader is not available/)
})
