import t from 'tap'
import { Aggregator } from '../src/aggregate/aggregator'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { buildKeyName } from '../src/parse/key-name'
import { PacketParser } from '../src/parse/packet-parser'
import { RecordingSink } from './helpers/recording-sink'

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
