import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { Aggregator } from '../src/aggregate/aggregator'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { buildKeyName } from '../src/parse/key-name'
import { PacketParser } from '../src/parse/packet-parser'
import { FakeGraphite } from './helpers/fake-graphite'
import { graphiteValues } from './helpers/graphite-lines'
import { RecordingSink } from './helpers/recording-sink'
import { ServerProcess } from './helpers/server-process'
import { sendUnixgram } from './helpers/unixgram'

/*
 * Tags a line does not carry in its `#` field: its `c:` container ID (only
 * when dogstatsd.containerIdTag asks), and its datagram's origin (pid, uid).
 */

class Recorder extends RecordingSink {
  onLine(): void {}
  onBadFields(): void {}
  resolveKey(buf: Buffer, ks: number, ke: number, ts: number, te: number): string | null {
    return buildKeyName(buf, ks, ke, ts, te, true)
  }
}

function parse(text: string, setup: (parser: PacketParser<string>) => void): unknown[][] {
  const sink = new Recorder()
  const parser = new PacketParser(sink)
  setup(parser)
  parser.parse(Buffer.from(text))
  return sink.calls
}

t.test('the container ID: ignored by default, a tag when asked, merged with the line own tags', async (t) => {
  const lines = 'a:1|c|#env:prod|c:abc123\nb:2|g|c:def|#x\nc:3|ms|c:\nd:4|c|@0.5|c:abc123'
  t.strictSame(parse(lines, () => {}), [
    ['c', 'a;env=prod', 1, 1],
    ['g', 'b;x', 2, false],
    ['ms', 'c', 3, 1],
    ['c', 'd', 4, 0.5],
  ])
  t.strictSame(
    parse(lines, (p) => (p.containerIdTag = true)),
    [
      ['c', 'a;env=prod;container_id=abc123', 1, 1],
      ['g', 'b;x;container_id=def', 2, false],
      ['ms', 'c', 3, 1],
      ['c', 'd;container_id=abc123', 4, 0.5],
    ],
    'an empty ID adds nothing',
  )
})

t.test('origin tags go on every line of the datagram, after its own and the container ID', async (t) => {
  const lines = 'a:1|c\nb:2|c|#env:prod|c:abc\n_e{1,1}:t|x\nc:x|c'
  t.strictSame(
    parse(lines, (p) => {
      p.originTags = Buffer.from('pid:42,uid:1000')
      p.containerIdTag = true
    }),
    [
      ['c', 'a;pid=42;uid=1000', 1, 1],
      ['c', 'b;env=prod;container_id=abc;pid=42;uid=1000', 2, 1],
      ['event', '_e{1,1}:t|x'],
      ['bad', 'c:x|c', 'bad value'],
    ],
  )
})

t.test('the aggregator: one series per container only with dogstatsd.containerIdTag', async (t) => {
  const traffic = Buffer.from('dd.count:1|c|#env:prod|c:abc123\ndd.count:1|c|#env:prod|c:def456\ndd.count:1|c|#env:prod')
  for (const containerIdTag of [false, true]) {
    for (const nativeParsing of [true, false]) {
      const cfg = configSchema.parse({ dogstatsd: { containerIdTag } })
      const aggregator = new Aggregator({ ...cfg, dumpMessages: false, nativeParsing }, silentLogger())
      aggregator.ingest(traffic)
      const counters = Object.fromEntries(
        aggregator
          .flush(Date.now())
          .counters.filter((c) => c.name.startsWith('dd.'))
          .map((c) => [c.name, c.value]),
      )
      t.strictSame(
        counters,
        containerIdTag
          ? { 'dd.count;env=prod;container_id=abc123': 1, 'dd.count;env=prod;container_id=def456': 1, 'dd.count;env=prod': 1 }
          : { 'dd.count;env=prod': 3 },
        `containerIdTag ${containerIdTag}, native ${nativeParsing}`,
      )
    }
  }
})

t.test('end to end: a unixgram listener with originTags tags each line with its sender, one without does not', async (t) => {
  const graphite = new FakeGraphite()
  const port = await graphite.listen()
  t.teardown(() => graphite.close())
  // Socket paths are short (108 bytes at most): a temp dir, not the test's fixture dir.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'origin-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const [tagged, plain] = [path.join(dir, 'tagged.sock'), path.join(dir, 'plain.sock')]
  const server = await ServerProcess.start(dir, {
    listeners: [
      { type: 'unixgram', path: tagged, originTags: true },
      { type: 'unixgram', path: plain },
    ],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 600_000,
    dogstatsd: { containerIdTag: true },
  })
  t.teardown(() => server.kill())
  const first = await sendUnixgram(tagged, ['o.count:1|c|#env:prod\no.gauge:5|g', 'o.count:2|c|c:abc'])
  const second = await sendUnixgram(tagged, ['o.count:4|c|#env:prod'])
  await sendUnixgram(plain, ['p.count:1|c|#env:prod'])
  t.not(first, second, 'two senders')
  t.equal(await server.stop(), 0)
  const uid = process.getuid!()
  const values = graphiteValues(graphite.flushes.join(''))
  const series = Object.fromEntries([...values].filter(([name]) => /\.(o|p)\./.test(name)))
  t.strictSame(series, {
    [`stats.o.count;env=prod;pid=${first};uid=${uid}`]: String(1 / 600),
    [`stats_counts.o.count;env=prod;pid=${first};uid=${uid}`]: '1',
    [`stats.o.count;container_id=abc;pid=${first};uid=${uid}`]: String(2 / 600),
    [`stats_counts.o.count;container_id=abc;pid=${first};uid=${uid}`]: '2',
    [`stats.o.count;env=prod;pid=${second};uid=${uid}`]: String(4 / 600),
    [`stats_counts.o.count;env=prod;pid=${second};uid=${uid}`]: '4',
    [`stats.gauges.o.gauge;pid=${first};uid=${uid}`]: '5',
    'stats.p.count;env=prod': String(1 / 600),
    'stats_counts.p.count;env=prod': '1',
  })
  t.equal(values.get('stats_counts.statsd.bad_lines_seen'), '0')
})
