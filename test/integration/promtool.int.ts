import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { buildAdminApp } from '../../src/admin/http/app'
import { eventually, httpGet } from '../helpers/admin-clients'
import { FakeControl } from '../helpers/fake-control'
import { sendUdp, shortTempDir } from '../helpers/net'
import { parsePrometheus } from '../helpers/prometheus'
import { ServerProcess } from '../helpers/server-process'

/*
 * Prometheus's own parser and linter (promtool, Debian package prometheus)
 * must accept /metrics: no parse error, and no lint problem with our own
 * statsd_* metrics (prom-client's nodejs_* defaults have some of their own).
 */
async function promtoolCheck(t: Test, text: string): Promise<void> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  child.stdin.end(text)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', resolve)
  })
  const ours = output.split('\n').filter((line) => line.startsWith('statsd_'))
  t.notMatch(output, /error while linting|parsing error/, 'promtool parses it')
  t.same(ours, [], `promtool finds nothing wrong with the statsd_ metrics (exit ${code})`)
}

t.test('/metrics of every figure the admin plane shows (a full snapshot) passes promtool', async (t) => {
  const app = buildAdminApp({ control: new FakeControl() })
  t.teardown(() => app.close())
  await promtoolCheck(t, (await app.inject('/metrics')).body)
})

t.test('/metrics of a running server with traffic passes promtool', async (t) => {
  const server = await ServerProcess.start(shortTempDir(t), { listeners: [{ type: 'udp', port: 0 }], flushInterval: 500 })
  t.teardown(() => server.kill())
  await sendUdp(server.endpoints.udp[0]!, ['a.count:1|c\na.time:3|ms\nbad line', 'a.gauge:2|g\na.set:x|s'])
  const http = server.endpoints.http!
  const text = await eventually(async () => {
    const body = (await httpGet(http, '/metrics')).body
    return parsePrometheus(body).get('statsd_lines_received_total') === 5 ? body : undefined
  }, 'every line counted in /metrics')
  await promtoolCheck(t, text)
  t.equal(await server.stop(), 0)
})
