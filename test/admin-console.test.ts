import { once } from 'node:events'
import net from 'node:net'
import t, { type Test } from 'tap'
import { HELP, runCommand } from '../src/admin/console/commands'
import { ConsoleServer } from '../src/admin/console/console-server'
import { FakeControl } from './helpers/fake-control'
import { withTimeout } from './helpers/net'

/* The Etsy management console: each command's answer, then the line protocol over a real socket. */

const out = (control: FakeControl, line: string): string => runCommand(control, line).output

t.test('help, health, unknown commands', async (t) => {
  const control = new FakeControl()
  t.equal(out(control, 'help'), HELP)
  t.equal(out(control, 'health'), 'health: up\n')
  t.equal(out(control, 'health DOWN'), 'health: down\n', 'the action is case-insensitive, as in Etsy')
  t.equal(control.health.current.status, 'down')
  t.equal(out(control, 'health  up'), 'health: down\n', 'Etsy splits on single spaces: an empty action changes nothing')
  t.equal(out(control, '  health up  \r'), 'health: up\n', 'surrounding blanks and CR are trimmed')
  t.equal(out(control, 'health sideways'), 'health: up\n')
  t.equal(out(control, 'bogus'), 'ERROR\n')
  t.equal(out(control, ''), 'ERROR\n')
  t.same(runCommand(control, 'quit'), { output: '', quit: true })
})

t.test('counters, timers, gauges and sets print the tables as Etsy does (util.inspect), then END', async (t) => {
  const control = new FakeControl()
  t.equal(
    out(control, 'counters'),
    "{\n  'statsd.bad_lines_seen': 0,\n  'api.hits': 3,\n  'api.errors': 1,\n  'web.hits': 2\n}\nEND\n\n",
  )
  t.equal(out(control, 'timers'), "{ 'api.latency': [ 5, 10 ] }\nEND\n\n")
  t.equal(out(control, 'gauges'), "{ 'queue.depth': 7 }\nEND\n\n")
  t.equal(out(control, 'sets'), "{ users: [ 'alice', 'bob' ] }\nEND\n\n")
})

t.test('delcounters & co: exact names and name.* folders, one answer per argument', async (t) => {
  const control = new FakeControl()
  t.equal(out(control, 'delcounters api.* nothing.here web.hits'), 'deleted: api.hits\ndeleted: api.errors\nmetric nothing.here not found\ndeleted: web.hits\nEND\n\n')
  t.same(control.deleted, [['counters', 'api.*'], ['counters', 'nothing.here'], ['counters', 'web.hits']])
  t.equal(out(control, 'deltimers api.latency'), 'deleted: api.latency\nEND\n\n')
  t.equal(out(control, 'delgauges queue.*'), 'deleted: queue.depth\nEND\n\n')
  t.equal(out(control, 'delsets users'), 'deleted: users\nEND\n\n')
  t.equal(out(control, 'delcounters'), 'END\n\n', 'no argument: nothing to do')
})

t.test('stats: uptime, message stats, then each backend with last_* as seconds ago', async (t) => {
  const control = new FakeControl()
  const now = Math.round(Date.now() / 1000)
  const lines = out(control, 'stats').split('\n')
  t.match(lines[0], /^uptime: \d+$/)
  t.equal(lines[1], 'messages.last_msg_seen: 5')
  t.equal(lines[2], 'messages.bad_lines_seen: 4')
  t.equal(lines[3], `graphite.last_flush: ${now - 100}`)
  t.equal(lines[4], 'graphite.flush_time: 3')
  t.same(lines.slice(5), ['END', '', ''])
})

t.test('config: Etsy writeConfig format', async (t) => {
  t.equal(
    out(new FakeControl(), 'config'),
    '\nflushInterval: 10000\nprefixStats: statsd\nqueue > maxBytes: 10\nqueue > maxPackets: 5\n',
  )
})

async function connect(t: Test): Promise<{ socket: net.Socket; received: () => string; closed: Promise<unknown> }> {
  const control = new FakeControl()
  const server = new ConsoleServer((line) => runCommand(control, line), { warn() {} })
  const { port } = await server.listen(0, '127.0.0.1')
  t.teardown(() => server.close())
  const socket = net.createConnection(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let text = ''
  socket.on('data', (d: Buffer) => (text += d.toString()))
  const closed = once(socket, 'close')
  await once(socket, 'connect')
  return { socket, received: () => text, closed }
}

async function until(test: () => boolean): Promise<void> {
  await withTimeout(
    (async () => {
      while (!test()) await new Promise((resolve) => setTimeout(resolve, 10))
    })(),
    5000,
    'console answer',
  )
}

t.test('over TCP: several commands in one segment each get their answer; quit closes', async (t) => {
  const { socket, received, closed } = await connect(t)
  socket.write('health\nbogus\ndelgauges queue.depth\nquit\nhealth\n')
  await withTimeout(closed, 5000, 'close after quit')
  t.equal(received(), 'health: up\nERROR\ndeleted: queue.depth\nEND\n\n', 'nothing after quit is run')
})

t.test('over TCP: a command split across segments, and one with no newline at all', async (t) => {
  const { socket, received } = await connect(t)
  socket.write('hea')
  socket.write('lth\n')
  await until(() => received() === 'health: up\n')
  socket.write('health down')
  await until(() => received() === 'health: up\nhealth: down\n')
  t.pass('answered after a pause')
})

t.test('over TCP: a command then end-of-input is answered before the console closes', async (t) => {
  const { socket, received, closed } = await connect(t)
  socket.end('health')
  await withTimeout(closed, 5000, 'close')
  t.equal(received(), 'health: up\n')
})

t.test('over TCP: an endless line is refused, not buffered', async (t) => {
  const { socket, received } = await connect(t)
  socket.write('x'.repeat(10_000))
  await until(() => received() === 'ERROR\n')
  socket.write('health\n')
  await until(() => received() === 'ERROR\nhealth: up\n')
  t.pass('and the connection still works')
})
