import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import t, { type Test } from 'tap'
import { loadConfig } from '../src/config/load'
import { makeAuthority } from './helpers/certs'
import { startFakeGraphite } from './helpers/fake-graphite'
import { graphiteValues, selfMetrics } from './helpers/graphite-lines'
import { lines } from './helpers/load'
import { withTimeout } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * TCP ingest over TLS, end to end against the server process, with
 * certificates made in the test: mTLS accepted and rejected (no
 * certificate, another CA's, an expired one), a client that never completes
 * its handshake, certificates reloaded on SIGHUP without dropping a
 * connection, and SIGTERM draining TLS clients with exact totals.
 */

const ca = makeAuthority()
const serverPair = ca.issue('localhost', { server: true })
const goodClient = ca.issue('good client')
const expiredClient = ca.issue('expired client', { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) })
const otherCa = makeAuthority('another CA')
const strangerClient = otherCa.issue('stranger')

function writeFiles(dir: string, files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(files).map(([name, text]) => {
      const file = path.join(dir, name)
      writeFileSync(file, text)
      return [name, file]
    }),
  )
}

/** Connects and resolves once the handshake is done (as the client sees it), or rejects. */
async function connectTls(port: number, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options })
  try {
    await withTimeout(once(socket, 'secureConnect'), 10_000, 'TLS handshake')
  } catch (err) {
    socket.destroy()
    throw err
  }
  return socket
}

/**
 * A client the server should refuse: with TLS 1.3 the client may finish its
 * side before the server has checked its certificate, so it writes a line
 * and waits for the connection to fail or close. The server's debug log
 * says why it refused.
 */
async function refused(port: number, options: tls.ConnectionOptions): Promise<true> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options })
  socket.on('error', () => {})
  socket.once('secureConnect', () => socket.write('tls.refused:1|c\n'))
  socket.resume()
  // Not once(): it rejects on the 'error' this client expects.
  await withTimeout(new Promise((resolve) => socket.once('close', resolve)), 10_000, 'refused client closed')
  return true
}

async function sendAndEnd(socket: tls.TLSSocket, block: Buffer, times: number): Promise<void> {
  for (let i = 0; i < times; i++) if (!socket.write(block)) await once(socket, 'drain')
  socket.end()
  socket.resume()
  await once(socket, 'close')
}

function flushed(graphite: { flushes: string[] }): { values: Map<string, string>; self: Map<string, { value: number }> } {
  const values = graphiteValues(graphite.flushes.join(''))
  return { values, self: selfMetrics(values) }
}

/** The server with one TLS listener and a Graphite stand-in; `listener` gets the certificate files' paths. */
async function startTlsServer(t: Test, listener: (files: Record<string, string>) => object, extra: object = {}) {
  const { graphite, port: graphitePort } = await startFakeGraphite(t)
  const dir = t.testdir()
  const files = writeFiles(dir, { 'ca.pem': ca.cert, 'server.pem': serverPair.cert, 'server.key': serverPair.key })
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'tcp', address: '127.0.0.1', port: 0, ...listener(files) }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port: graphitePort }],
    flushInterval: 600_000,
    ...extra,
  })
  t.teardown(() => server.kill())
  return { server, graphite, dir, port: server.endpoints.tcp[0]!.port }
}

t.test('mTLS: a client signed by the CA is served; none, a stranger and an expired one are refused and counted', async (t) => {
  const { server, graphite, port } = await startTlsServer(
    t,
    (f) => ({ tls: { certFile: f['server.pem'], keyFile: f['server.key'], clientCaFile: f['ca.pem'] } }),
    { log: { level: 'debug' } },
  )
  t.match(server.logs.find((l) => l.msg === 'statsd server is up')?.listeners, [/^tls 127\.0\.0\.1:\d+$/])

  const good = await connectTls(port, { ca: ca.cert, ...goodClient })
  await sendAndEnd(good, lines('tls.good:1|c\n', 1000), 3)
  t.ok(await refused(port, { ca: ca.cert }), 'no client certificate')
  t.ok(await refused(port, { ca: ca.cert, ...strangerClient }), "another CA's certificate")
  t.ok(await refused(port, { ca: ca.cert, ...expiredClient }), 'an expired certificate')
  // The server's certificate is checked by clients too: one that does not trust our CA gives up.
  await t.rejects(connectTls(port, { ca: otherCa.cert, ...goodClient }), /self.signed|unable to verify|certificate/i)

  t.equal(await server.stop(), 0)
  const { values, self } = flushed(graphite)
  t.equal(values.get('stats_counts.tls.good'), '3000', 'every line of the accepted client')
  t.equal(values.get('stats_counts.tls.refused'), undefined, 'nothing from a refused one')
  t.equal(self.get('stream.tls_handshake_failures')?.value, 4, 'three refused clients, and the one that refused us')
  t.equal(server.logged('TLS handshake failed: client disconnected').length, 1, 'a warning, rate-limited')
  const reasons = server.logged('TLS handshake failed').map((l) => l.reason)
  t.same(reasons.slice(0, 3), ['NO_CLIENT_CERTIFICATE', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED'], 'why each was refused')
  // The client that gave up on us: a reset or its alert, depending on timing.
  t.match(reasons[3], /ECONNRESET|ALERT|EPIPE/)
  t.notOk(JSON.stringify(server.logs).includes('PRIVATE KEY'))
})

t.test('a client that never completes its handshake is cut off at the deadline and counted; its slot is freed', async (t) => {
  const { server, graphite, port } = await startTlsServer(t, (f) => ({
    maxConnections: 1,
    tls: { certFile: f['server.pem'], keyFile: f['server.key'], handshakeTimeoutMs: 500 },
  }))
  const silent = net.createConnection(port, '127.0.0.1')
  silent.on('error', () => {})
  await once(silent, 'connect')
  const started = Date.now()
  silent.resume()
  await withTimeout(once(silent, 'close'), 10_000, 'the silent client cut off')
  const waited = Date.now() - started
  t.ok(waited >= 400 && waited < 5_000, `cut off after ${waited} ms (deadline 500 ms)`)
  const next = await connectTls(port, { ca: ca.cert })
  await sendAndEnd(next, lines('tls.after:1|c\n', 10), 1)
  t.equal(await server.stop(), 0)
  const { values, self } = flushed(graphite)
  t.equal(values.get('stats_counts.tls.after'), '10', 'the one slot served the next client')
  t.equal(self.get('stream.tls_handshake_failures')?.value, 1)
})

t.test('SIGHUP reloads the certificates; an open connection is not dropped', async (t) => {
  const { server, graphite, port, dir } = await startTlsServer(t, (f) => ({ tls: { certFile: f['server.pem'], keyFile: f['server.key'] } }))
  const before = await connectTls(port, { ca: ca.cert })
  before.write('tls.reload:1|c\n')

  const rotated = otherCa.issue('localhost', { server: true })
  writeFiles(dir, { 'server.pem': rotated.cert, 'server.key': rotated.key })
  server.signal('SIGHUP')
  await server.waitForLog('TLS certificates reloaded')

  const after = await connectTls(port, { ca: otherCa.cert })
  t.equal(after.getPeerCertificate().issuer.CN, 'another CA', 'a new client gets the new certificate')
  await t.rejects(connectTls(port, { ca: ca.cert }), /self.signed|unable to verify|certificate/i, 'the old CA no longer verifies')
  await sendAndEnd(after, lines('tls.reload:1|c\n', 5), 1)
  await sendAndEnd(before, lines('tls.reload:1|c\n', 5), 1)

  // A broken file keeps the certificates in use.
  writeFiles(dir, { 'server.pem': 'not a certificate' })
  server.signal('SIGHUP')
  await server.waitForLog('TLS certificates not reloaded: keeping the ones in use')
  await sendAndEnd(await connectTls(port, { ca: otherCa.cert }), lines('tls.reload:1|c\n', 1), 1)

  t.equal(await server.stop(), 0)
  t.equal(flushed(graphite).values.get('stats_counts.tls.reload'), '12', 'the connection opened before the reload kept sending')
})

t.test('SIGTERM drains TLS clients: exact totals', async (t) => {
  const CLIENTS = 6
  const BLOCK = 5_000
  const WRITES = 4
  const { server, graphite, port } = await startTlsServer(t, (f) => ({
    tls: { certFile: f['server.pem'], keyFile: f['server.key'], clientCaFile: f['ca.pem'] },
  }))
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connectTls(port, { ca: ca.cert, ...goodClient })))
  // Also one that is stuck in its handshake: it must not hold the shutdown.
  const stuck = net.createConnection(port, '127.0.0.1').on('error', () => {})
  await once(stuck, 'connect')
  const block = lines('tls.drain:1|c\n', BLOCK)
  // Every client writes everything, SIGTERM arrives, and only then do they close their side.
  const ends: Promise<void>[] = []
  for (const socket of clients) {
    for (let i = 0; i < WRITES; i++) socket.write(block)
    socket.resume()
    ends.push(once(socket, 'end').then(() => void socket.end()))
  }
  const stopping = server.stop()
  await withTimeout(Promise.all(ends), 15_000, 'every client told the server is going')
  t.equal(await stopping, 0)
  const { values, self } = flushed(graphite)
  t.equal(graphite.flushes.length, 1, 'one flush, the final one')
  t.equal(values.get('stats_counts.tls.drain'), String(CLIENTS * WRITES * BLOCK), 'exact total')
  t.equal(self.get('stream.shutdown_disconnects')?.value, 0, 'nobody cut off')
  stuck.destroy()
})

t.test('limits work as on plain TCP: an idle TLS client is cut off, an over-long line dropped, both counted', async (t) => {
  const { server, graphite, port } = await startTlsServer(t, (f) => ({
    idleTimeoutMs: 400,
    maxLineBytes: 100,
    tls: { certFile: f['server.pem'], keyFile: f['server.key'] },
  }))
  const idle = await connectTls(port, { ca: ca.cert })
  idle.write(`tls.long:${'1'.repeat(200)}|c\ntls.limits:1|c\n`)
  idle.resume()
  // Not once(): a reset is fine too.
  await withTimeout(new Promise((resolve) => idle.once('close', resolve)), 10_000, 'the idle client cut off')
  t.equal(await server.stop(), 0)
  const { values, self } = flushed(graphite)
  t.equal(values.get('stats_counts.tls.limits'), '1')
  t.equal(self.get('stream.idle_timeouts')?.value, 1)
  t.equal(self.get('stream.lines_too_long')?.value, 1)
})

t.test('config: an unreadable certificate file is a config error naming the key', async (t) => {
  const dir = t.testdir({ 'config.json': JSON.stringify({ listeners: [{ type: 'tcp', tls: { certFile: '/nonexistent/cert.pem', keyFile: '/nonexistent/key.pem' } }] }) })
  t.throws(() => loadConfig(path.join(dir, 'config.json')), /listeners\[0\]\.tls\.certFile: cannot read \/nonexistent\/cert\.pem/)
})
