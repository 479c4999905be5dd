import { writeFileSync, readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ConfigError } from '../src/config/config-error'
import { loadConfig } from '../src/config/load'
import { loadConfigApart } from '../src/config/load-apart'
import { shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * The server validates its config in a short-lived process of its own
 * (src/config/load-apart.ts), so that zod never stays resident in the
 * daemon: the config it gets, and the errors it reports, are loadConfig's.
 */

t.test('the same config as loadConfig, for each format and the built-in default', async (t) => {
  const dir = shortTempDir(t)
  const files = {
    'native.json': JSON.stringify({ listeners: [{ type: 'udp', port: 8125 }], backends: [{ type: 'graphite', host: '127.0.0.1', port: 2003 }], percentThreshold: [90, 99.5] }),
    'etsy.js': `{ graphitePort: 2003, graphiteHost: "127.0.0.1", port: 8125, flushInterval: 5000, deleteIdleStats: true }`,
    'statsgod.yml': 'service:\n  name: statsgod\n',
  }
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text)
  t.strictSame(loadConfigApart(), loadConfig(), 'built-in default')
  for (const name of Object.keys(files)) {
    const file = path.join(dir, name)
    let direct: unknown
    try {
      direct = loadConfig(file)
    } catch (err) {
      direct = err
    }
    if (direct instanceof Error) t.throws(() => loadConfigApart(file), { message: direct.message }, name)
    else t.strictSame(loadConfigApart(file), direct, name)
  }
})

t.test('an invalid config: the same ConfigError, message for message', async (t) => {
  const dir = shortTempDir(t)
  const file = path.join(dir, 'bad.json')
  writeFileSync(file, JSON.stringify({ listeners: [{ type: 'udp', prot: 8125 }], flushInterval: -1 }))
  let expected = ''
  try {
    loadConfig(file)
  } catch (err) {
    expected = (err as Error).message
  }
  t.match(expected, /prot/, 'loadConfig refuses it')
  t.throws(() => loadConfigApart(file), new ConfigError(expected))
  t.throws(() => loadConfigApart(path.join(dir, 'missing.json')), ConfigError, 'a missing file too')
})

t.test('the running server, started and reloaded (SIGHUP), never loads zod', async (t) => {
  const dir = shortTempDir(t)
  const report = path.join(dir, 'zod-modules.json')
  const reporter = path.join(dir, 'report.js')
  // In the server's process only (the config loader's loads zod, by design).
  writeFileSync(
    reporter,
    `if (/main\\.js$/.test(process.argv[1] ?? '')) process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(report)}, ` +
      `JSON.stringify(Object.keys(require.cache).filter((k) => /node_modules[\\\\/]zod[\\\\/]/.test(k)))))\n`,
  )
  const server = await ServerProcess.start(dir, { listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }], flushInterval: 500 }, 'config.json', [
    '/usr/bin/env',
    `NODE_OPTIONS=--require=${reporter}`,
  ])
  t.teardown(() => server.kill())
  server.signal('SIGHUP')
  await server.waitForLog('reload: new settings take effect at the next flush')
  t.equal(await server.stop(), 0)
  t.strictSame(JSON.parse(readFileSync(report, 'utf8')), [], 'no module of zod in the server process')
})
