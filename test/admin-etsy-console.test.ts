import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { consoleSession, eventually } from './helpers/admin-clients'
import { freePort, startEtsy } from './helpers/etsy-process'
import { sendUdp } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * Etsy statsd 0.9 itself (the devDependency) and our server read the same
 * Etsy config and the same datagrams; their management consoles must answer
 * the same commands with the same bytes. Etsy reads one command per TCP
 * segment, so each command is sent alone and its answer awaited. No flush
 * happens during the test (long interval), so the tables are comparable.
 */

const TRAFFIC = [
  'plain:1|c\nplain:2|c|@0.5\nsampled:1|c|@0.1',
  'api.hits:1|c\napi.errors:2|c\napi.deep.er:3|c\napi:4|c\napis:5|c\n123:1|c',
  'with space/and slash!:1|c\ntagged:1|c|#env:prod,region:eu\nmulti:1|c:2|c:3|ms',
  't.lat:10|ms\nt.lat:5.5|ms|@0.5\nt.lat:0|ms\napi.t:3|ms',
  'g.abs:10|g\ng.abs:+5|g\ng.abs:-3|g\ng.float:3.5|g\napi.g:1|g',
  's.u:a|s\ns.u:b|s',
  'nocolon\nbad.value:abc|c\nneg.timer:-1|ms',
]
const LINES = TRAFFIC.reduce((n, p) => n + p.split('\n').length, 0)

const config = (p: { udp: number; mgmt: number }): string => `{
  port: ${p.udp}, address: "127.0.0.1", mgmt_port: ${p.mgmt}, mgmt_address: "127.0.0.1",
  graphiteHost: "127.0.0.1", graphitePort: 1, flushInterval: 600000,
  backends: [ "./backends/graphite" ]
}`

/** One command on its own connection; the answer is complete at its terminator. */
function ask(mgmt: { host: string; port: number }, command: string): Promise<string> {
  const [cmd] = command.split(' ')
  const end = /^(stats|counters|timers|gauges|del)/.test(cmd!) ? 'END\n\n' : cmd === 'help' ? '\n\n' : '\n'
  return consoleSession(mgmt, [command], (text) => text.endsWith(end))
}

/** Values that depend on the clock (seconds since something) blanked. */
function clockless(stats: string): string {
  return stats.replace(/^(uptime|messages\.last_msg_seen|graphite\.last_flush|graphite\.last_exception): \d+$/gm, '$1: (t)')
}

t.test("the management console's answers match Etsy 0.9's", async (t) => {
  const dir = t.testdir()
  const [udp, mgmtPort] = await Promise.all([freePort('udp'), freePort('tcp')])
  const etsyFile = path.join(dir, 'etsy.js')
  writeFileSync(etsyFile, config({ udp, mgmt: mgmtPort }))
  await startEtsy(t, etsyFile)
  const ours = await ServerProcess.start(dir, config({ udp: 0, mgmt: 0 }), 'ours.js')
  t.teardown(() => ours.kill())
  const etsy = { host: '127.0.0.1', port: mgmtPort }
  const own = ours.endpoints.mgmt!

  await Promise.all([sendUdp({ host: '127.0.0.1', port: udp }, TRAFFIC), sendUdp(ours.endpoints.udp[0]!, TRAFFIC)])
  for (const mgmt of [etsy, own]) {
    await eventually(
      async () => ((await ask(mgmt, 'counters')).includes(`'statsd.metrics_received': ${LINES}`) ? true : undefined),
      'all the traffic counted',
    )
  }

  const same = async (command: string, normalise = (s: string) => s): Promise<void> => {
    const [theirs, mine] = [await ask(etsy, command), await ask(own, command)]
    t.equal(normalise(mine), normalise(theirs), command)
  }
  for (const command of ['counters', 'timers', 'gauges', 'health', 'health down', 'health', 'health UP', 'bogus', 'health  down']) {
    await same(command)
  }
  await same('stats', clockless)
  await same('delcounters api.* nothing.here plain')
  await same('deltimers api.* t.lat')
  await same('delgauges api.* g.*')
  for (const command of ['counters', 'timers', 'gauges']) await same(command)

  const help = await ask(own, 'help')
  t.equal(help.replace(/ (sets|delsets|auth),/g, ''), await ask(etsy, 'help'), 'help: Etsy\'s list, plus sets, delsets and auth')
  t.equal(await ask(etsy, 'sets'), 'ERROR\n', 'Etsy 0.9 has no sets command (we do)')
})
