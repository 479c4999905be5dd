import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { startFakeGraphite, type FakeGraphite } from './helpers/fake-graphite'
import { graphiteValues } from './helpers/graphite-lines'
import { sendStream, sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * Token authentication end to end: the real server, real packets over UDP,
 * TCP and a Unix socket, Graphite read back; tokens from the config and from
 * a tokens file, changed by SIGHUP.
 */

async function startServer(t: Test, dir: string, config: object): Promise<ServerProcess> {
  const server = await ServerProcess.start(dir, config)
  t.teardown(() => server.kill())
  return server
}

/** The sum of one name's values over every flush received. */
function total(graphite: FakeGraphite, name: string): number {
  return graphite.flushes.reduce((sum, text) => sum + Number(graphiteValues(text).get(name) ?? 0), 0)
}

/** "udp 127.0.0.1:40000" style endpoint -> the self-metric name the server uses for it. */
const authMetric = (type: string, port: number | string, what: string) => `stats.statsd.auth.${type}_${port}.${what}`

t.test('valid, missing, unknown and revoked tokens in the same packets over UDP, TCP and Unix; per-listener policy', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const dir = shortTempDir(t)
  writeFileSync(path.join(dir, 'tokens'), '# one token per line\nfiletoken\n\noldtoken99\n', { mode: 0o600 })
  const server = await startServer(t, dir, {
    listeners: [
      { type: 'udp', port: 0, auth: 'token' },
      { type: 'tcp', port: 0, auth: 'token' },
      { type: 'unix', path: path.join(dir, 'auth.sock'), auth: 'token' },
      { type: 'tcp', port: 0 }, // trusted: no token required
    ],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 60_000,
    auth: { tokens: { cfgtoken: true, oldtoken99: false }, tokensFile: path.join(dir, 'tokens') },
  })
  const { udp, tcp, unix } = server.endpoints
  const packet = [
    'cfgtoken.app.hits:1|c', // valid (config)
    'filetoken.app.hits:2|c', // valid (tokens file)
    'app.hits:4|c', // no token: "app" is not one
    'hits:8|c', // no dot at all: missing
    'wrongtoken.app.hits:16|c', // unknown
    'oldtoken99.app.hits:32|c', // in the file, but revoked in the config
    'filetoken.app.lat:5|ms',
  ].join('\n')
  await sendUdp(udp[0]!, [packet])
  await sendStream(tcp[0]!, [packet + '\n'])
  await sendStream(unix[0]!, [packet + '\n'])
  await sendStream(tcp[1]!, ['cfgtoken.app.hits:64|c\napp.hits:128|c\n'])

  t.equal(await server.stop(), 0)
  const out = graphiteValues(graphite.flushes[0]!)
  t.equal(out.get('stats_counts.app.hits'), String(3 * 3 + 128), 'valid lines from each token listener; all from the trusted one')
  t.equal(out.get('stats_counts.cfgtoken.app.hits'), '64', 'a trusted listener does not strip anything')
  t.equal(out.get('stats.timers.app.lat.count'), '3')
  t.equal(out.get('stats_counts.statsd.bad_lines_seen'), '0', 'refused lines are not bad lines')
  for (const [type, p] of [['udp', udp[0]!.port], ['tcp', tcp[0]!.port], ['unix', 'auth_sock']] as const) {
    t.equal(out.get(authMetric(type, p, 'rejected_lines')), '4', `${type}: 4 lines refused`)
    t.equal(out.get(authMetric(type, p, 'missing_token')), '1')
    t.equal(out.get(authMetric(type, p, 'unknown_token')), '2')
    t.equal(out.get(authMetric(type, p, 'revoked_token')), '1')
  }
  t.equal([...out.keys()].filter((k) => k.includes(`_${tcp[1]!.port}.`)).length, 0, 'no auth figures for a trusted listener')
  t.equal(out.get('statsd.numStats'), '6', 'auth figures stay outside numStats')

  const logText = JSON.stringify(server.logs)
  for (const token of ['wrongtoken', 'oldtoken99', 'filetoken', 'cfgtoken']) {
    t.notMatch(logText, token.slice(0, 5), `no more than 4 characters of "${token}" in the logs`)
  }
  t.ok(server.logged('line refused by token authentication').length > 0, 'refusals are logged')
})

t.test('SIGHUP: a token revoked in the tokens file stops being accepted; nothing received is lost', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const dir = shortTempDir(t)
  const tokensFile = path.join(dir, 'tokens')
  writeFileSync(tokensFile, 'alpha\nbeta\n', { mode: 0o600 })
  const config = {
    listeners: [{ type: 'udp', port: 0, auth: 'token' }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 1_000,
    percentThreshold: [90],
    auth: { tokensFile },
  }
  const server = await startServer(t, dir, config)
  const udp = server.endpoints.udp[0]!
  await sendUdp(udp, ['alpha.x:1|c\nbeta.x:10|c\nalpha.t:1|ms\nalpha.t:2|ms'])

  writeFileSync(tokensFile, 'alpha\n')
  // Percentiles reload too; the flush interval needs a restart and is only reported.
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, percentThreshold: [50], flushInterval: 2_000 }))
  server.signal('SIGHUP')
  t.match(await server.waitForLog('reload: these changes need a restart and were ignored'), { settings: ['flushInterval'] })
  await server.waitForLog('reloaded settings in effect')
  await sendUdp(udp, ['alpha.x:100|c\nbeta.x:1000|c\nalpha.t:3|ms'])
  await graphite.waitForFlush((v) => v.has('stats.timers.t.upper_50'))

  // A broken file is reported and the running config kept.
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, percentThreshold: 'lots' }))
  server.signal('SIGHUP')
  const invalid = await server.waitForLog('reload: invalid configuration, the running configuration is kept')
  t.match(invalid.problems, [/percentThreshold/])
  await sendUdp(udp, ['alpha.x:10000|c'])

  t.equal(await server.stop(), 0, 'still running, and stops cleanly')
  t.equal(total(graphite, 'stats_counts.x'), 10111, 'before the reload both tokens counted; after it only alpha')
  t.equal(total(graphite, authMetric('udp', udp.port, 'unknown_token')), 1, 'beta, once removed from the file, is unknown')
  t.equal(total(graphite, 'stats.timers.t.count'), 3, 'no timer value lost across the reload')
})
