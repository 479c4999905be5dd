import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startFakeGraphite, type FakeGraphite } from './helpers/fake-graphite'
import { graphiteValues } from './helpers/graphite-lines'
import { sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'
import { withEnv } from './helpers/env'

/*
 * A reload with several aggregation threads: each shard takes the new
 * settings at its own take, so "reloaded settings in effect" must wait for
 * the last one. Here the shard that holds key x is kept busy across the
 * take (a test hook, src/aggregate/shards/shard-worker.ts), while the other
 * three take the new tokens at once: a line sent as soon as the log appears
 * must still be judged by the new tokens.
 */

const FLUSH_MS = 2_000
/** Longer than a flush interval: the take after the reload comes while the shard is busy. */
const STALL_MS = FLUSH_MS + 500

function total(graphite: FakeGraphite, name: string): number {
  return graphite.flushes.reduce((sum, text) => sum + Number(graphiteValues(text).get(name) ?? 0), 0)
}

t.test('4 threads, one busy across the take: "reloaded settings in effect" is logged once, when every shard has them', async (t) => {
  // The stall line's name hashes as x does (the hash stops at ":"), so it lands on x's shard; its tag keeps it apart.
  withEnv(t, { STATSD_TS_WORKERS: '4', STATSD_TS_TEST_SHARD_STALL: `stall.now:${STALL_MS}` })
  const { graphite, port } = await startFakeGraphite(t)
  const dir = shortTempDir(t)
  const tokensFile = path.join(dir, 'tokens')
  writeFileSync(tokensFile, 'alpha\nbeta\n', { mode: 0o600 })
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0, auth: 'token' }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: FLUSH_MS,
    auth: { tokensFile },
  })
  t.teardown(() => server.kill())
  const udp = server.endpoints.udp[0]!
  await sendUdp(udp, ['beta.x:10|c'])
  // Just after a flush: the reload below is in before the next take.
  await graphite.waitForFlush((v) => v.has('stats_counts.x'))

  writeFileSync(tokensFile, 'alpha\n')
  server.signal('SIGHUP')
  await server.waitForLog('reload: new settings take effect at the next flush')
  await sendUdp(udp, ['alpha.x:0|c|#stall.now'])
  t.match(await server.waitForLog('reloaded settings in effect', 0, 3 * FLUSH_MS + STALL_MS), { validTokens: 1, percentThreshold: [90], histograms: 0 })
  await sendUdp(udp, ['beta.x:1000|c\nalpha.x:100|c'])

  t.equal(await server.stop(), 0)
  t.equal(server.logged('reloaded settings in effect').length, 1, 'logged once, not once per shard')
  t.equal(total(graphite, 'stats_counts.x'), 110, 'beta counted before the reload; after it only alpha')
  t.equal(total(graphite, `stats.statsd.auth.udp_${udp.port}.unknown_token`), 1, 'beta, sent once the reload was in effect, is unknown')
})
