import { existsSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t, { type Test } from 'tap'
import { ConfigError } from '../src/config/errors'
import { fromEtsyConfig } from '../src/config/etsy'
import { evaluateLiteral } from '../src/config/literal'
import { loadConfig } from '../src/config/load'
import type { Config } from '../src/config/schema'

/** Writes `content` into the test's temp dir (removed after the test) and returns the file's path. */
function writeConfig(t: Test, name: string, content: string): string {
  // A second t.testdir() call would wipe files written earlier in the same test.
  const dir = existsSync(t.testdirName) ? t.testdirName : t.testdir({})
  const file = join(dir, name)
  writeFileSync(file, content)
  return file
}

/** The message of the ConfigError `fn` throws; fails loudly if it throws anything else or nothing. */
function configErrorOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  throw new Error('expected a ConfigError, but nothing was thrown')
}

const DEFAULTS: Config = {
  listeners: [{ type: 'udp', address: '127.0.0.1', port: 8125 }],
  backends: [{ type: 'console', prettyprint: false }],
  flushInterval: 10000,
  percentThreshold: [90],
  histogram: [],
  flushCounts: true,
  deleteIdleStats: false,
  gaugesMaxTTL: 1,
  prefixStats: 'statsd',
  keyNameSanitize: true,
  shutdownTimeoutMs: 10_000,
  timerStatistics: 'etsy',
  auth: { tokens: {} },
  dogstatsd: {
    keepEvents: 100,
    keepEventBytes: 1024 * 1024,
    eventsPerSecond: 100,
    timestampMaxPastSeconds: 3600,
    timestampMaxFutureSeconds: 600,
    maxTimestampedPoints: 100_000,
    containerIdTag: false,
  },
  adminAuth: { openWrites: false },
  queue: { maxBytes: 64 * 1024 * 1024, maxPackets: 1_000_000 },
  admin: { address: '127.0.0.1', port: 8127 },
  mgmt: { address: '127.0.0.1', port: 8126 },
  log: { level: 'info', dumpMessages: false },
}

const GRAPHITE_DEFAULTS = {
  type: 'graphite',
  port: 2003,
  legacyNamespace: true,
  globalPrefix: 'stats',
  prefixCounter: 'counters',
  prefixTimer: 'timers',
  prefixGauge: 'gauges',
  prefixSet: 'sets',
  timeoutMs: 5000,
} as const

const STREAM_DEFAULTS = { maxLineBytes: 65536, idleTimeoutMs: 60000 }

/** The warning of a config that sends nowhere, and why, as operators read it. */
const nowhere = (file: string, why: string): string =>
  `${file}: no backend can receive a flush (${why}): every flush goes nowhere; add a backend that sends somewhere`
const GRAPHITE_NO_HOST = '"./backends/graphite" has no graphiteHost'

t.test('no path: the built-in default', async (t) => {
  const loaded = loadConfig()
  t.strictSame(loaded.config, DEFAULTS)
  t.equal(loaded.source, 'built-in default')
  t.strictSame(loaded.warnings, [])
})

t.test('native JSON file', async (t) => {
  const file = writeConfig(
    t,
    'statsd.json',
    JSON.stringify({
      listeners: [
        { type: 'udp', port: 9125 },
        { type: 'tcp', address: '0.0.0.0', port: 9125 },
        { type: 'unix', path: '/run/statsd.sock', mode: '660' },
      ],
      backends: [{ type: 'graphite', host: 'graphite.local' }],
      flushInterval: 5000,
      percentThreshold: 95,
      log: { level: 'warn' },
    }),
  )
  const loaded = loadConfig(file)
  t.strictSame(loaded.config, {
    ...DEFAULTS,
    listeners: [
      { type: 'udp', address: '127.0.0.1', port: 9125 },
      { type: 'tcp', address: '0.0.0.0', port: 9125, ...STREAM_DEFAULTS },
      { type: 'unix', path: '/run/statsd.sock', mode: '660', ...STREAM_DEFAULTS },
    ],
    backends: [{ ...GRAPHITE_DEFAULTS, host: 'graphite.local' }],
    flushInterval: 5000,
    percentThreshold: [95],
    log: { level: 'warn', dumpMessages: false },
  })
  t.equal(loaded.source, resolve(file))
  t.strictSame(loaded.warnings, [])
})

t.test('the Etsy example config maps exactly', async (t) => {
  const file = writeConfig(
    t,
    'config.js',
    `{ port: 8125, graphiteHost: "127.0.0.1", graphitePort: 2003, flushInterval: 10000,
       percentThreshold: [90, 99], backends: ["./backends/graphite"] }`,
  )
  const loaded = loadConfig(file)
  t.strictSame(loaded.config, {
    ...DEFAULTS,
    listeners: [{ type: 'udp', address: '0.0.0.0', port: 8125 }],
    backends: [{ ...GRAPHITE_DEFAULTS, host: '127.0.0.1' }],
    percentThreshold: [90, 99],
    mgmt: { address: '0.0.0.0', port: 8126 },
    adminAuth: { openWrites: true },
  })
  t.strictSame(loaded.warnings, [])
})

t.test('Etsy example config as it ships: comment header, leading commas, no backends key', async (t) => {
  const file = writeConfig(
    t,
    'exampleConfig.js',
    `/*
  graphiteHost: hostname or IP of Graphite server
*/
{
  graphitePort: 2003
, graphiteHost: "graphite.example.com"   // where stats go
, port: 8125
, flushInterval: 60 * 1000
, prefixStats: 'statsd' + "_" + \`test\`
, graphite: { legacyNamespace: false, globalSuffix: 'host1', },
}
`,
  )
  const { config } = loadConfig(file)
  t.strictSame(config.backends, [
    { ...GRAPHITE_DEFAULTS, host: 'graphite.example.com', legacyNamespace: false, globalSuffix: 'host1' },
  ])
  t.equal(config.flushInterval, 60000)
  t.equal(config.prefixStats, 'statsd_test')
  t.strictSame(config.listeners, [{ type: 'udp', address: '0.0.0.0', port: 8125 }])
})

t.test('Etsy servers: udp, tcp, unix socket with socket_mod', async (t) => {
  const file = writeConfig(
    t,
    'servers.js',
    `{
  servers: [
    { server: './servers/udp', address: '127.0.0.1', port: 8125 },
    { server: './servers/tcp', port: 8126 },
    { server: '/opt/statsd/servers/tcp.js', socket: '/run/a.sock', socket_mod: 0o660 },
    { server: 'tcp', socket: '/run/b.sock', socket_mod: 432 },
    { server: './servers/tcp', socket: '/run/c.sock', socket_mod: '0600' },
    { address_ipv6: true, port: 8127 },
  ],
  backends: ['./backends/console'],
}`,
  )
  const loaded = loadConfig(file)
  t.strictSame(loaded.config.listeners, [
    { type: 'udp', address: '127.0.0.1', port: 8125 },
    { type: 'tcp', address: '0.0.0.0', port: 8126, ...STREAM_DEFAULTS },
    { type: 'unix', path: '/run/a.sock', mode: '660', ...STREAM_DEFAULTS },
    { type: 'unix', path: '/run/b.sock', mode: '660', ...STREAM_DEFAULTS },
    { type: 'unix', path: '/run/c.sock', mode: '600', ...STREAM_DEFAULTS },
    { type: 'udp', address: '::', port: 8127 },
  ])
  // Etsy's console backend pretty-prints unless told not to.
  t.strictSame(loaded.config.backends, [{ type: 'console', prettyprint: true }])
  t.strictSame(loaded.warnings, [])
})

t.test('Etsy top-level address_ipv6, and top-level keys ignored next to servers', async (t) => {
  const ipv6 = fromEtsyConfig({ address_ipv6: true, port: 9000 }, 'c.js')
  t.strictSame(ipv6.config.listeners, [{ type: 'udp', address: '::', port: 9000 }])

  const both = fromEtsyConfig({ port: 9000, servers: [{ port: 9001 }] }, 'c.js')
  t.strictSame(both.config.listeners, [{ type: 'udp', address: '0.0.0.0', port: 9001 }])
  t.strictSame(both.warnings, ['c.js: port: ignored because "servers" is set (as in Etsy statsd)', nowhere('c.js', GRAPHITE_NO_HOST)])
})

t.test('Etsy keys with a different name or shape in the native format', async (t) => {
  const { config, warnings } = fromEtsyConfig(
    {
      flush_counts: false,
      dumpMessages: true,
      debug: true,
      gaugesMaxTTL: 2.5,
      deleteIdleStats: true,
      backends: ['console', 'graphite'],
      console: { prettyprint: false },
      graphitePicklePort: 2004,
      graphiteProtocol: 'text',
      log: { backend: 'syslog', application: 'statsd', level: 'LOG_INFO' },
    },
    'c.js',
  )
  t.equal(config.flushCounts, false)
  t.strictSame(config.log, { level: 'debug', dumpMessages: true })
  t.equal(config.gaugesMaxTTL, 1, 'a non-integer TTL is forced to 1, as Etsy does')
  t.equal(config.deleteIdleStats, true)
  // graphite is listed but there is no graphiteHost: Etsy sends nothing, so no backend.
  t.strictSame(config.backends, [{ type: 'console', prettyprint: false }])
  t.strictSame(warnings, ['c.js: log.backend: syslog is not supported; logging to stderr instead'])

  t.equal(fromEtsyConfig({ gaugesMaxTTL: 5 }, 'c.js').config.gaugesMaxTTL, 5)
  t.equal(fromEtsyConfig({ gaugesMaxTTL: -3 }, 'c.js').config.gaugesMaxTTL, 1)
  t.equal(
    configErrorOf(() => fromEtsyConfig({ gaugesMaxTTL: '5' }, 'c.js')),
    'c.js: gaugesMaxTTL: expected number, received string',
  )
  t.strictSame(fromEtsyConfig({ port: 8125 }, 'c.js').config.backends, [], 'default graphite backend, no host')
})

t.test('unimplemented Etsy settings are accepted with a warning', async (t) => {
  const file = writeConfig(t, 'c.js', '{ port: 8125, debugInterval: 1000, automaticConfigReload: false, repeater: [] }')
  const loaded = loadConfig(file)
  t.strictSame(loaded.warnings, [
    `${file}: no backend can receive a flush ("./backends/graphite" has no graphiteHost): every flush goes nowhere; add a backend that sends somewhere`,
    `${file}: debugInterval: periodic debug dumps are not implemented; setting ignored`,
  ])
  t.equal(
    configErrorOf(() => fromEtsyConfig({ mgmt_port: '8126' }, 'c.js')),
    'c.js: mgmt_port: expected number, received string',
  )
})

t.test('JavaScript that is not a literal is rejected at its line and column', async (t) => {
  const file = writeConfig(t, 'config.js', `{\n  port: 8125,\n  graphite: { globalSuffix: require('os').hostname() }\n}\n`)
  t.equal(
    configErrorOf(() => loadConfig(file)),
    `${file}:3:29: graphite.globalSuffix: only literal values are allowed here, found a call expression (require('os').hostname()); ` +
      'replace it with the literal value',
  )
})

t.test('a function value is rejected', async (t) => {
  t.equal(
    configErrorOf(() => evaluateLiteral('{ toString: function(){} }', 'c.js')),
    'c.js:1:13: toString: only literal values are allowed here, found a function expression (function(){}); ' +
      'replace it with the literal value',
  )
  t.equal(
    configErrorOf(() => evaluateLiteral('{ toString() { return "x" } }', 'c.js')),
    'c.js:1:3: only literal values are allowed here, found a method (toString() { return "x" }); ' +
      'replace it with the literal value',
  )
})

t.test('prototype keys are rejected and pollute nothing', async (t) => {
  t.equal(
    configErrorOf(() => evaluateLiteral('{ a: { __proto__: { polluted: true } } }', 'c.js')),
    `c.js:1:8: a: the key "__proto__" is not allowed (it would touch the object's prototype)`,
  )
  t.equal(
    configErrorOf(() => evaluateLiteral(`{ 'constructor': 1 }`, 'c.js')),
    `c.js:1:3: the key "constructor" is not allowed (it would touch the object's prototype)`,
  )
  // JSON.parse makes __proto__ an own key; the strict schema then refuses it.
  const file = writeConfig(t, 'c.json', '{ "__proto__": { "polluted": true } }')
  t.equal(configErrorOf(() => loadConfig(file)), `${file}: __proto__: unknown key`)
  t.equal(({} as Record<string, unknown>)['polluted'], undefined)
})

t.test('literal evaluation: what is allowed', async (t) => {
  t.strictSame(
    evaluateLiteral(
      `// leading comment
      { a: 1, 'b': "two", 3: [true, false, null,], c: \`tpl\`, d: -5, e: +2.5, f: 60 * 1000, g: 7 % 4,
        h: 10 / 4 - 1, i: 'x' + 'y', j: undefined, k: Infinity, l: -Infinity, m: { n: [] } };`,
      'c.js',
    ),
    { 3: [true, false, null], a: 1, b: 'two', c: 'tpl', d: -5, e: 2.5, f: 60000, g: 3, h: 1.5, i: 'xy', j: undefined, k: Infinity, l: -Infinity, m: { n: [] } },
  )
  t.ok(Number.isNaN(evaluateLiteral('NaN', 'c.js')))
})

t.test('literal evaluation: what is refused', async (t) => {
  const cases: Array<[string, string]> = [
    ['{ a: os }', 'c.js:1:6: a: only literal values are allowed here, found an identifier (os); replace it with the literal value (quote it if it is meant to be a string)'],
    ['{ a: this }', 'c.js:1:6: a: only literal values are allowed here, found `this` (this); replace it with the literal value'],
    ['{ a: x = 1 }', 'c.js:1:6: a: only literal values are allowed here, found an assignment (x = 1); replace it with the literal value'],
    ['{ a: new Date() }', 'c.js:1:6: a: only literal values are allowed here, found a new expression (new Date()); replace it with the literal value'],
    ['{ a: () => 1 }', 'c.js:1:6: a: only literal values are allowed here, found an arrow function expression (() => 1); replace it with the literal value'],
    ['{ a: /x/ }', 'c.js:1:6: a: only literal values are allowed here, found a regular expression (/x/); replace it with the literal value'],
    ['{ a: 10n }', 'c.js:1:6: a: only literal values are allowed here, found a BigInt (10n); replace it with the literal value (write a plain number)'],
    ['{ a: `x${y}` }', 'c.js:1:6: a: only literal values are allowed here, found a template literal with ${...} substitutions (`x${y}`); replace it with the literal value'],
    ['{ ...x }', 'c.js:1:3: only literal values are allowed here, found a spread element (...x); replace it with the literal value'],
    ['{ get a() { return 1 } }', 'c.js:1:3: only literal values are allowed here, found a getter (get a() { return 1 }); replace it with the literal value'],
    ['{ [k]: 1 }', 'c.js:1:4: only literal values are allowed here, found a computed key (k); replace it with the literal value'],
    ['{ a }', 'c.js:1:3: only literal values are allowed here, found a shorthand property (a); replace it with the literal value (write "a: value")'],
    ['[1,,2]', 'c.js:1:1: an array may not have empty slots (two commas in a row)'],
    ['{ a: !0 }', 'c.js:1:6: a: only literal values are allowed here, found the ! operator (!0); replace it with the literal value; only unary - and + on numbers are allowed'],
    ['{ a: 2 ** 8 }', 'c.js:1:6: a: only literal values are allowed here, found the ** operator (2 ** 8); replace it with the literal value; only + - * / % are allowed'],
    ['{ a: "1" + 2 }', 'c.js:1:6: a: + needs two numbers or two strings, found a string and a number'],
    ['{ a: "6" * 2 }', 'c.js:1:6: a: * needs two numbers, found a string and a number'],
    ["{ a: -'5' }", 'c.js:1:6: a: unary - applies only to numbers, found a string'],
    ['{ a: 1 } x', 'c.js:1:10: unexpected "x" after the end of the config value'],
    ['{ a: 1 };\n;\n{}', 'c.js:3:1: unexpected "{" after the end of the config value'],
    ['{\n  a: 1,\n  b: \n}', 'c.js:4:1: syntax error: Unexpected token'],
    ['{ a: "unterminated }', 'c.js:1:6: syntax error: Unterminated string constant'],
    ['{ a: 1 } /* open', 'c.js:1:10: syntax error: Unterminated comment'],
  ]
  for (const [source, message] of cases) t.equal(configErrorOf(() => evaluateLiteral(source, 'c.js')), message, source)
})

t.test('absurd nesting is an error, not a stack overflow', async (t) => {
  t.equal(
    configErrorOf(() => evaluateLiteral('['.repeat(500) + ']'.repeat(500), 'c.js')),
    'c.js:1:102: the config is nested more than 100 levels deep',
  )
  // Deeper still, the parser itself runs out of stack; that must surface as a ConfigError too.
  t.match(
    configErrorOf(() => evaluateLiteral('['.repeat(100_000) + ']'.repeat(100_000), 'c.js')),
    /^c\.js(:1:\d+)?: (syntax error: Not enough stack space|the config is nested too deeply)/,
  )
})

t.test('unknown keys in an Etsy file are warnings, named, with a suggestion when one is close', async (t) => {
  const etsy = writeConfig(t, 'c.js', '{ port: 8125, flushIntreval: 1000, graphite: { globalprefix: "x" }, zzz: 1 }')
  const loaded = loadConfig(etsy)
  t.strictSame(loaded.warnings, [
    `${etsy}: graphite.globalprefix: unknown key (did you mean "globalPrefix"?); ignored, as Etsy statsd does`,
    `${etsy}: flushIntreval: unknown key (did you mean "flushInterval"?); ignored, as Etsy statsd does`,
    `${etsy}: zzz: unknown key; ignored, as Etsy statsd does`,
    nowhere(etsy, GRAPHITE_NO_HOST),
  ])
  t.equal(loaded.config.flushInterval, 10_000, 'the misspelt key has no effect')
  t.equal(loaded.config.listeners[0]?.type === 'udp' && loaded.config.listeners[0].port, 8125)

  // The native format stays strict.
  const native = writeConfig(t, 'c.json', '{ "listeners": [{ "type": "tcp", "prot": 1 }], "backend": [] }')
  t.equal(
    configErrorOf(() => loadConfig(native)),
    [
      `${native}: listeners[0].prot: unknown key (did you mean "port"?)`,
      `${native}: backend: unknown key (did you mean "backends"?)`,
    ].join('\n'),
  )
})

t.test('the Etsy config from issue 6 loads: keys Etsy ignores are warnings', async (t) => {
  const file = writeConfig(
    t,
    'c.js',
    '{graphService: "graphite", batch: 200, port: 8125, graphiteHost: "127.0.0.1", graphitePort: 2003}',
  )
  const { config, warnings } = loadConfig(file)
  t.strictSame(warnings, [
    `${file}: graphService: unknown key; ignored, as Etsy statsd does`,
    `${file}: batch: unknown key; ignored, as Etsy statsd does`,
  ])
  t.match(config.backends, [{ type: 'graphite', host: '127.0.0.1', port: 2003 }])
})

t.test('in an Etsy file, a known key with a wrong type is still an error, unknown keys or not', async (t) => {
  const file = writeConfig(t, 'c.js', '{ port: "8125", batch: 200, servers: [{ port: 1, sockt: "/x" }] }')
  t.equal(configErrorOf(() => loadConfig(file)), `${file}: port: expected number, received string`)
})

t.test('a parenthesised Etsy config loads', async (t) => {
  const file = writeConfig(t, 'c.js', '({ port: 8125, flushInterval: (1 + 1) * 1000 })\n')
  const { config } = loadConfig(file)
  t.equal(config.flushInterval, 2000)
  t.match(config.listeners, [{ type: 'udp', port: 8125 }])
  t.equal(
    configErrorOf(() => evaluateLiteral('({ a: 1 }))', 'c.js')),
    'c.js:1:11: unexpected ")" after the end of the config value',
  )
})

t.test('code in a config is refused, naming the key it sits under', async (t) => {
  t.equal(
    configErrorOf(() => evaluateLiteral('{ servers: [{ port: 1 }, { address: os.hostname() }] }', 'c.js')),
    'c.js:1:37: servers[1].address: only literal values are allowed here, found a call expression (os.hostname()); ' +
      'replace it with the literal value',
  )
})

t.test('wrong types are reported with the key path', async (t) => {
  const file = writeConfig(
    t,
    'c.js',
    `{ servers: [ { port: 8125 }, { server: './servers/tcp', port: "8126" } ], flushInterval: 1.5, histogram: [{ metric: 'a', bins: [1, 'x'] }] }`,
  )
  t.equal(
    configErrorOf(() => loadConfig(file)),
    [
      `${file}: servers[1].port: expected number, received string`,
      `${file}: flushInterval: expected an integer, received 1.5`,
      `${file}: histogram[0].bins[1]: expected number or "inf", received string`,
    ].join('\n'),
  )
  const native = writeConfig(t, 'c.json', '{ "listeners": [{ "type": "udp2" }, { "port": 1 }, { "type": "unix" }] }')
  t.equal(
    configErrorOf(() => loadConfig(native)),
    [
      `${native}: listeners[0].type: must be one of "udp", "tcp", "unix", "unixgram" (found "udp2")`,
      `${native}: listeners[1].type: is required (one of "udp", "tcp", "unix", "unixgram")`,
      `${native}: listeners[2].path: is required (expected string)`,
    ].join('\n'),
  )
})

t.test('Etsy pickle and repeater settings map to the graphite pickle protocol and the repeater', async (t) => {
  const etsy = (extra: object): unknown =>
    fromEtsyConfig({ graphiteHost: 'g', graphiteProtocol: 'pickle', ...extra }, 'c.js').config.backends
  t.strictSame(etsy({}), [{ type: 'graphite', host: 'g', protocol: 'pickle', port: 2004 }])
  t.strictSame(etsy({ graphitePicklePort: 2404, graphitePort: 2403 }), [{ type: 'graphite', host: 'g', protocol: 'pickle', port: 2404 }])
  const targets = [{ host: '10.0.0.2', port: 8125 }]
  t.strictSame(
    fromEtsyConfig({ backends: ['./backends/repeater'], repeater: targets, repeaterProtocol: 'tcp' }, 'c.js').config.backends,
    [{ type: 'repeater', targets, protocol: 'tcp' }],
  )
  t.strictSame(fromEtsyConfig({ backends: ['./backends/repeater'], repeater: targets }, 'c.js').config.backends, [
    { type: 'repeater', targets, protocol: 'udp4' },
  ])
  t.strictSame(fromEtsyConfig({ repeater: targets, repeaterProtocol: 'udp6' }, 'c.js').warnings, [
    'c.js: repeater: ignored because "./backends/repeater" is not in backends (as in Etsy statsd)',
    'c.js: repeaterProtocol: ignored because "./backends/repeater" is not in backends (as in Etsy statsd)',
    nowhere('c.js', GRAPHITE_NO_HOST),
  ])
  t.match(configErrorOf(() => fromEtsyConfig({ repeaterProtocol: 'sctp' }, 'c.js')), /^c\.js: repeaterProtocol: /)
})

t.test('a config whose flushes can reach no destination starts with a warning saying why', async (t) => {
  t.strictSame(fromEtsyConfig({ backends: ['./backends/repeater'] }, 'c.js').warnings, [nowhere('c.js', '"./backends/repeater" has no repeater targets')])
  t.strictSame(fromEtsyConfig({ backends: ['./backends/graphite'], graphiteHost: '' }, 'c.js').warnings, [nowhere('c.js', GRAPHITE_NO_HOST)])
  t.strictSame(fromEtsyConfig({ backends: [] }, 'c.js').warnings, [nowhere('c.js', 'backends is empty')])
  const native = writeConfig(t, 'c.json', '{ "backends": [] }')
  t.strictSame(loadConfig(native).warnings, [nowhere(native, 'backends is empty')])
  t.strictSame(fromEtsyConfig({ backends: ['./backends/graphite', './backends/console'] }, 'c.js').warnings, [], 'one that sends is enough')
  t.strictSame(loadConfig(writeConfig(t, 'd.json', '{}')).warnings, [], 'the default sends to the console')
})

t.test('unsupported backends and servers are named', async (t) => {
  const file = writeConfig(t, 'c.js', '{ backends: ["./backends/graphite", "./backends/librato", "statsd-influxdb-backend"] }')
  const supported = '"./backends/graphite", "./backends/console" and "./backends/repeater"'
  t.equal(
    configErrorOf(() => loadConfig(file)),
    [
      `${file}: backends[1]: the backend "./backends/librato" is not supported; supported backends are ${supported}`,
      `${file}: backends[2]: the backend "statsd-influxdb-backend" is not supported; supported backends are ${supported}`,
    ].join('\n'),
  )
  t.equal(
    configErrorOf(() => fromEtsyConfig({ servers: [{ server: './servers/http' }] }, 'c.js')),
    'c.js: servers[0].server: the server "./servers/http" is not supported; use "./servers/udp" or "./servers/tcp"',
  )
  t.strictSame(
    fromEtsyConfig({ graphiteHost: 'g', backends: ['/opt/statsd/backends/graphite.js'] }, 'c.js').config.backends,
    [{ type: 'graphite', host: 'g', port: 2003 }],
  )
})

t.test('a percentile out of range', async (t) => {
  const etsy = writeConfig(t, 'c.js', '{ port: 8125, percentThreshold: [90, 150] }')
  t.equal(
    configErrorOf(() => loadConfig(etsy)),
    `${etsy}: percentThreshold[1]: a percentile must be in [-100, 100] and not 0 (found 150)`,
  )
  const native = writeConfig(t, 'c.json', '{ "percentThreshold": 150 }')
  t.equal(
    configErrorOf(() => loadConfig(native)),
    `${native}: percentThreshold: a percentile must be in [-100, 100] and not 0 (found 150)`,
  )
})

t.test('a missing file', async (t) => {
  const file = join(t.testdir({}), 'nope.json')
  t.equal(
    configErrorOf(() => loadConfig(file)),
    `${file}: cannot read the config file: ENOENT: no such file or directory, open '${file}'`,
  )
})

t.test('the top level must be an object', async (t) => {
  const arr = writeConfig(t, 'a.json', '[1, 2]')
  t.equal(configErrorOf(() => loadConfig(arr)), `${arr}: the config must be an object ({ ... }), found an array`)
  const str = writeConfig(t, 'b.js', "'port: 8125'")
  t.equal(configErrorOf(() => loadConfig(str)), `${str}: the config must be an object ({ ... }), found a string`)
  const empty = writeConfig(t, 'c.js', '  \n// nothing\n')
  t.equal(configErrorOf(() => loadConfig(empty)), `${empty}:3:1: syntax error: Unexpected token`)
  const blank = writeConfig(t, 'd.js', '\n')
  t.equal(configErrorOf(() => loadConfig(blank)), `${blank}: the file is empty (write {} for the default config)`)
})

t.test('duplicate listeners and mixed formats', async (t) => {
  const native = writeConfig(
    t,
    'c.json',
    JSON.stringify({
      listeners: [
        { type: 'udp', port: 8125 },
        { type: 'tcp', port: 8125 },
        { type: 'udp', address: '127.0.0.1', port: 8125 },
        { type: 'unix', path: '/run/s' },
        { type: 'unix', path: '/run/s' },
        { type: 'udp', port: 0 },
        { type: 'udp', port: 0 },
      ],
    }),
  )
  t.equal(
    configErrorOf(() => loadConfig(native)),
    [
      `${native}: listeners[2]: same udp 127.0.0.1:8125 as listeners[0]`,
      `${native}: listeners[4]: same unix socket /run/s as listeners[3]`,
    ].join('\n'),
  )
  const etsy = writeConfig(t, 'c.js', '{ servers: [{ address_ipv6: true }, { address: "::" }] }')
  t.equal(configErrorOf(() => loadConfig(etsy)), `${etsy}: servers[1]: same udp [::]:8125 as servers[0]`)

  const mixed = writeConfig(t, 'm.js', '{ graphiteHost: "g", listeners: [] }')
  t.equal(
    configErrorOf(() => loadConfig(mixed)),
    `${mixed}: mixes Etsy statsd settings (graphiteHost) with native settings (listeners); use one format or the other`,
  )
})
