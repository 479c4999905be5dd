import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { Aggregator } from '../src/aggregate/aggregator'
import { ConfigError } from '../src/config/errors'
import { loadConfig } from '../src/config/load'
import { restartOnlyChanges, withReloadedSettings } from '../src/config/reloadable'
import { configSchema } from '../src/config/schema'
import { createLogger, setLogLevel, silentLogger } from '../src/log'
import { shortTempDir } from './helpers/net'

/* What a reload may change, the tokens file, and settings applied at the next flush. */

t.test('restart-only changes are named; reloadable ones are not', async (t) => {
  const running = configSchema.parse({})
  const next = configSchema.parse({
    listeners: [{ type: 'tcp' }],
    flushInterval: 5000,
    percentThreshold: [50],
    deleteIdleStats: true,
    auth: { tokens: { a: true } },
    log: { level: 'debug', pretty: true },
  })
  t.same(restartOnlyChanges(running, next), ['listeners', 'flushInterval', 'log.pretty'])
  const applied = withReloadedSettings(running, next)
  t.same(applied.listeners, running.listeners, 'restart-only settings are kept')
  t.equal(applied.flushInterval, 10_000)
  t.same(applied.percentThreshold, [50])
  t.equal(applied.deleteIdleStats, true)
  t.same(applied.auth.tokens, { a: true })
  t.equal(applied.log.level, 'debug')
  t.equal(applied.log.pretty, undefined)
  t.same(restartOnlyChanges(applied, next), ['listeners', 'flushInterval', 'log.pretty'], 'still reported at the next reload')
})

t.test('auth.tokensFile: one token per line, merged with auth.tokens, errors naming the key', async (t) => {
  const dir = shortTempDir(t)
  const tokens = path.join(dir, 'tokens')
  writeFileSync(tokens, '# comment\n  alpha  \n\nbeta\n')
  const config = path.join(dir, 'c.json')
  writeFileSync(config, JSON.stringify({ auth: { tokensFile: tokens, tokens: { beta: false, gamma: true } } }))
  t.same(loadConfig(config).config.auth.tokens, { alpha: true, beta: false, gamma: true }, 'false in auth.tokens wins')

  writeFileSync(tokens, 'alpha\nbad.token\n')
  t.throws(() => loadConfig(config), new ConfigError(`${config}: auth.tokensFile: ${tokens} line 2: a token must be non-empty, without ".", ":", "|" or whitespace`))
  writeFileSync(config, JSON.stringify({ auth: { tokensFile: path.join(dir, 'missing') } }))
  t.throws(() => loadConfig(config), /auth\.tokensFile: cannot read the tokens file: ENOENT/)
  writeFileSync(config, JSON.stringify({ auth: { tokens: { 'a.b': true } } }))
  t.throws(() => loadConfig(config), /auth\.tokens/)
})

t.test('reloaded histogram bins, percentiles and delete options apply at the next flush, keeping data', async (t) => {
  const cfg = configSchema.parse({ percentThreshold: [90] })
  const aggregator = new Aggregator({ ...cfg, dumpMessages: false }, silentLogger())
  const stats = (name: string) => Object.fromEntries(aggregator.flush(Date.now()).timers.find((x) => x.name === name)?.stats ?? [])
  aggregator.ingest(Buffer.from('lat:5|ms\nlat:50|ms\nlevel:3|g\n'))
  aggregator.reconfigure({
    ...cfg,
    percentThreshold: [50],
    histogram: [{ metric: 'lat', bins: [10, 'inf'] }],
    deleteGauges: true,
    dumpMessages: false,
  })
  const first = stats('lat')
  t.equal(first['count'], 2, 'values received before the reload are kept')
  t.equal(first['upper_50'], 5, 'new percentiles from this flush on')
  t.equal(first['upper_90'], undefined)
  t.equal(first['histogram.bin_10'], 1, 'new bins apply to existing timers')
  t.equal(first['histogram.bin_inf'], 1)
  const gauges = aggregator.flush(Date.now()).gauges.map((g) => g.name)
  t.notOk(gauges.includes('level'), 'an idle gauge is deleted once deleteGauges is on (after its one-flush lease)')
})

t.test('a reloaded log level reaches child loggers already handed out', async (t) => {
  const log = createLogger({ level: 'info', pretty: false, dumpMessages: false })
  const child = log.child({ listener: 'udp' })
  const grandchild = child.child({ peer: 'x' })
  setLogLevel(log, 'error')
  t.same([log.level, child.level, grandchild.level], ['error', 'error', 'error'])
})
