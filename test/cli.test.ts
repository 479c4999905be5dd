import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * The command line as operators use it: --version, --help, --check-config,
 * --print-config, and what a listener that cannot start looks like.
 */

const MAIN = path.resolve(__dirname, '../src/main.js')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the command line. `unprivileged`: as root, without the capabilities
 * that let root write and search where the mode bits say no (util-linux's
 * setpriv), so that a permission check fails for root too; still root, so
 * it reads the checkout wherever that is.
 */
function statsd(args: string[], { unprivileged = false } = {}): Promise<Run> {
  return new Promise((resolve) => {
    // `env -i`: tap's process instrumentation, passed on in the environment, has nothing to do with the command.
    const argv = ['-i', `PATH=${process.env['PATH'] ?? '/usr/bin:/bin'}`, process.execPath, MAIN, ...args]
    const dropCaps = ['--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-dac_override,-dac_read_search', '--', '/usr/bin/env']
    const [command, commandArgs] = unprivileged && process.getuid?.() === 0 ? ['/usr/bin/setpriv', [...dropCaps, ...argv]] : ['/usr/bin/env', argv]
    execFile(command, commandArgs, { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr })
    })
  })
}

function write(dir: string, name: string, text: string | object): string {
  const file = path.join(dir, name)
  writeFileSync(file, typeof text === 'string' ? text : JSON.stringify(text))
  return file
}

const firstLine = (text: string): string => text.slice(0, text.indexOf('\n'))

t.test('--version prints the package version; --help lists every option', async (t) => {
  const { version } = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string }
  t.strictSame(await statsd(['--version']), { code: 0, stdout: `statsd-ts ${version}\n`, stderr: '' })
  const help = await statsd(['--help'])
  t.equal(help.code, 0)
  for (const option of ['--check-config', '--print-config', '--version', '--help', '78', '69', '73']) {
    t.match(help.stdout, option)
  }
  const bad = await statsd(['--frobnicate'])
  t.equal(bad.code, 64, 'EX_USAGE')
  t.equal(firstLine(bad.stderr), 'statsd-ts: unknown option --frobnicate')
  t.equal((await statsd(['--check-config'])).code, 64, 'a missing file is a usage error')
})

t.test('--check-config: 0 with warnings for a usable file, 78 with the usual message otherwise', async (t) => {
  const dir = t.testdir()
  const etsy = write(dir, 'config.js', '{ port: 8125, graphiteHost: "127.0.0.1", batch: 200 }')
  t.strictSame(await statsd(['--check-config', etsy]), {
    code: 0,
    stdout: `${etsy}: configuration OK\n`,
    stderr: `statsd-ts: warning: ${etsy}: batch: unknown key; ignored, as Etsy statsd does\n`,
  })
  const nowhere = write(dir, 'repeater.js', '{ backends: ["./backends/repeater"] }')
  t.strictSame(await statsd(['--check-config', nowhere]), {
    code: 0,
    stdout: `${nowhere}: configuration OK\n`,
    stderr:
      `statsd-ts: warning: ${nowhere}: no backend can receive a flush ("./backends/repeater" has no repeater targets): ` +
      'every flush goes nowhere; add a backend that sends somewhere\n',
  })
  const broken = write(dir, 'bad.json', { flushInterval: 'often' })
  t.strictSame(await statsd(['--check-config', broken]), {
    code: 78,
    stdout: '',
    stderr: `statsd-ts: invalid configuration\n${broken}: flushInterval: expected number, received string\n`,
  })
  t.equal((await statsd(['--check-config', path.join(dir, 'missing.json')])).code, 78)
})

t.test('--print-config prints the effective native config, which loads as it is', async (t) => {
  const dir = t.testdir()
  const etsy = write(
    dir,
    'config.js',
    `{ port: 8125, graphiteHost: "127.0.0.1", graphite: { legacyNamespace: false }, flushInterval: 1000, flush_counts: false }`,
  )
  const printed = await statsd(['--print-config', etsy])
  t.equal(printed.code, 0)
  const config = JSON.parse(printed.stdout) as Record<string, unknown>
  t.match(config, {
    listeners: [{ type: 'udp', address: '0.0.0.0', port: 8125 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port: 2003, legacyNamespace: false, globalPrefix: 'stats' }],
    flushInterval: 1000,
    flushCounts: false,
    percentThreshold: [90],
    queue: { maxBytes: 64 * 1024 * 1024 },
  })
  // What is printed is a native config that means the same thing.
  const native = write(dir, 'native.json', printed.stdout)
  t.strictSame(JSON.parse((await statsd(['--print-config', native])).stdout), config)
})

/** Runs the server on `listeners` and expects it to fail at once with `line` first and `code`. */
async function expectStartFailure(t: Test, listeners: object[], line: string, code: number, unprivileged = false): Promise<void> {
  const dir = shortTempDir(t)
  const config = write(dir, 'config.json', { listeners, backends: [] })
  const run = await statsd([config], { unprivileged })
  t.equal(firstLine(run.stderr), line, 'one clear line first')
  t.equal(run.code, code, 'exit status')
  t.match(run.stderr, /"msg":"could not start"/, 'then the structured log entry')
  t.notMatch(firstLine(run.stderr), /\n|at .*\.js/, 'no stack trace in the first line')
}

t.test('start-up failures: one clear line naming the listener and the cause, and a sysexits status', async (t) => {
  const dir = shortTempDir(t)
  // Another program holds a TCP port.
  const holder = net.createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const busy = (holder.address() as net.AddressInfo).port
  await expectStartFailure(
    t,
    [{ type: 'tcp', address: '127.0.0.1', port: busy }],
    `statsd-ts: cannot listen on tcp 127.0.0.1:${busy}: address already in use`,
    69,
  )

  // A second instance on the same sockets as a running one.
  const sock = path.join(dir, 'statsd.sock')
  const first = await ServerProcess.start(dir, {
    listeners: [
      { type: 'udp', address: '127.0.0.1', port: 0 },
      { type: 'unix', path: sock },
    ],
    backends: [],
  })
  t.teardown(() => first.kill())
  const udp = first.endpoints.udp[0]!
  await expectStartFailure(
    t,
    [{ type: 'udp', address: '127.0.0.1', port: udp.port }],
    `statsd-ts: cannot listen on udp 127.0.0.1:${udp.port}: address already in use`,
    69,
  )
  await expectStartFailure(
    t,
    [{ type: 'unix', path: sock }],
    `statsd-ts: cannot listen on unix ${sock}: already in use by a running process (it accepted a connection)`,
    69,
  )
  t.equal(await first.stop(), 0, 'the first instance is unharmed')

  await expectStartFailure(
    t,
    [{ type: 'unix', path: path.join(dir, 'missing', 'statsd.sock') }],
    `statsd-ts: cannot listen on unix ${path.join(dir, 'missing', 'statsd.sock')}: the directory ${path.join(dir, 'missing')} does not exist`,
    73,
  )
  await expectStartFailure(
    t,
    [{ type: 'udp', address: 'no-such-host.invalid', port: 0 }],
    'statsd-ts: cannot listen on udp no-such-host.invalid:0: cannot resolve the address "no-such-host.invalid"',
    69,
  )
  await expectStartFailure(
    t,
    [{ type: 'tcp', address: 'no-such-host.invalid', port: 0 }],
    'statsd-ts: cannot listen on tcp no-such-host.invalid:0: cannot resolve the address "no-such-host.invalid"',
    69,
  )
})

t.test('start-up failure: a Unix socket in a directory this user cannot write', async (t) => {
  const dir = shortTempDir(t)
  const locked = path.join(dir, 'locked')
  mkdirSync(locked, 0o555)
  await expectStartFailure(
    t,
    [{ type: 'unix', path: path.join(locked, 'statsd.sock') }],
    `statsd-ts: cannot listen on unix ${path.join(locked, 'statsd.sock')}: permission denied (can this user create files in ${locked}?)`,
    73,
    true,
  )
})
