import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import t, { type Test } from 'tap'
import { eventually, httpGet } from '../helpers/admin-clients'
import { startFakeGraphite } from '../helpers/fake-graphite'
import { sendUdp } from '../helpers/net'
import { ServerProcess } from '../helpers/server-process'

/*
 * The status page in a real browser: Debian's Chromium, headless, driven by
 * playwright-core (no browser download), against the real server with
 * traffic. Read once with JavaScript off (the figures are rendered on the
 * server) and once with it on (the page reloads itself). The screenshot is
 * kept for people to look at.
 */

const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOT = path.resolve('.tap/output/admin-browser/status-page.png')

const TRAFFIC = [
  'checkout.requests:1|c\n'.repeat(40) + 'checkout.latency:12|ms\n'.repeat(25) + 'users.online:830|g',
  'search.requests:1|c\n'.repeat(15) + 'search.latency:40|ms\nvisitors:alice|s\nvisitors:bob|s',
  'no.type.here:1\nbad.value:abc|c\nnegative.timer:-5|ms',
]
const LINES = 40 + 25 + 1 + 15 + 1 + 2 + 3

/** A fresh Chromium profile and browser, both gone after the test. */
async function launch(t: Test, javaScriptEnabled: boolean): Promise<BrowserContext> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'statsd-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    javaScriptEnabled,
    viewport: { width: 1100, height: 1400 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    timeout: 30_000,
  })
  t.teardown(async () => {
    await context.close()
    // Chromium's helpers may still be writing to the cache for a moment after it closes.
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
  })
  return context
}

t.test('the status page in headless Chromium shows the figures of a running server', async (t) => {
  const { port } = await startFakeGraphite(t)
  const server = await ServerProcess.start(t.testdir(), {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 1000,
  })
  t.teardown(() => server.kill())
  const http = server.endpoints.http!
  const url = `http://${http.host}:${http.port}/`
  await sendUdp(server.endpoints.udp[0]!, TRAFFIC)
  // Wait for the flush that holds the traffic, so the busiest keys and the backend are filled in.
  await eventually(async () => ((await httpGet(http, '/')).body.includes('checkout.requests</code></td><td class="n">40') ? true : undefined), 'a flush with the traffic')

  const noJs = await launch(t, false)
  const requests: string[] = []
  const page = await noJs.newPage()
  page.on('request', (r) => requests.push(r.url()))
  await page.goto(url)
  const text = (selector: string): Promise<string> => page.locator(selector).innerText()
  t.equal(await text('#total-lines'), String(LINES), 'lines since start')
  t.match(await text('#summary'), /Health\s+up/)
  t.match(await text('#summary'), /Ready\s+yes/)
  t.match(await text('#busiest'), /checkout\.requests\s+40[\s\S]*checkout\.latency\s+25[\s\S]*search\.requests\s+15/, 'busiest keys, busiest first')
  t.match(await text('#bad-lines'), /bad value\s+1[\s\S]*negative timer\s+1[\s\S]*no type\s+1/)
  t.match(await text('#recent-bad-lines'), /"negative\.timer:-5\|ms"/)
  t.match(await text('#backends'), new RegExp(`graphite\\s+127\\.0\\.0\\.1:${port}\\s+\\d{4}-`), 'the backend has delivered')
  t.match(await text('#listeners'), /udp 127\.0\.0\.1:\d+\s+yes/)
  t.match(await text('#intervals'), /\d\d:\d\d:\d\d\s+[\d.]+/, 'per-interval rates')
  t.same(requests, [url], 'nothing but the page itself is loaded')

  mkdirSync(path.dirname(SCREENSHOT), { recursive: true })
  await page.screenshot({ path: SCREENSHOT, fullPage: true })
  t.comment(`status page screenshot: ${SCREENSHOT}`)

  const withJs = await launch(t, true)
  const live = await withJs.newPage()
  await live.goto(url)
  t.equal(await live.locator('#total-lines').innerText(), String(LINES))
  await sendUdp(server.endpoints.udp[0]!, ['late.arrival:1|c\nlate.arrival:2|c'])
  await live.locator('#total-lines', { hasText: String(LINES + 2) }).waitFor({ timeout: 15_000 })
  t.pass('the page refreshed itself with the new figures')
  t.equal(await server.stop(), 0)
})
