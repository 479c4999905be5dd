import t, { type Test } from 'tap'
import { buildKeyName } from '../src/parse/key-name'
import { DatagramBatch } from '../src/parse/packets'
import { JsRouter, type Router, SEGMENT_FIELDS, ShardBatch, shardOfLine, type TakenBatch } from '../src/aggregate/shards/route'
import { NativeRouter, nativeRouting } from '../src/aggregate/shards/route-native'
import { ShardRing } from '../src/aggregate/shards/ring'
import { startFakeGraphite } from './helpers/fake-graphite'
import { graphiteValues } from './helpers/graphite-lines'
import { sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'
import { seededRandom } from './helpers/random'

/*
 * Sharded aggregation (config `workers`): the routing that keeps every
 * stored name on one shard, and the same flush from 1, 2 and 4 threads.
 */

const KEY_BYTES = ['a', 'b', 'Z', '0', '.', '-', '_', '/', ' ', '  ', '\t', 'é', '\u00a0', ';', '=', '#', '|', '*', '\u2003']

/** The raw key and tags of `line` as the parser reads them. */
function routeOf(key: string, tags: string, token: boolean, shards: number): number {
  const line = Buffer.from(`${key}:1|c${tags === '' ? '' : `|#${tags}`}`)
  return shardOfLine(line, 0, line.length, token, shards)
}

t.test('every raw key whose stored name is the same goes to the same shard', async (t) => {
  const random = seededRandom(25)
  const pick = <T>(from: readonly T[]): T => from[Math.floor(random() * from.length)]!
  for (const sanitize of [true, false]) {
    for (const shards of [2, 3, 4, 7]) {
      const byName = new Map<string, Set<number>>()
      for (let i = 0; i < 20_000; i++) {
        const key = Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(KEY_BYTES)).join('').replace(/[|:]/g, '')
        const tags = random() < 0.3 ? Array.from({ length: 1 + Math.floor(random() * 2) }, () => `${pick(['k', 'a', 'z'])}:${pick(['v', '1', 'b;c'])}`).join(',') : ''
        const raw = Buffer.from(`${key}\u0000${tags}`)
        const name = buildKeyName(raw, 0, Buffer.byteLength(key), Buffer.byteLength(key) + 1, raw.length, sanitize)
        if (name === '') continue
        const shard = routeOf(key, tags, false, shards)
        // The same name through a token listener, after any token.
        const viaToken = routeOf(`tok${pick(['', '1', 'X'])}.${key}`, tags, true, shards)
        const seen = byName.get(name) ?? new Set<number>()
        seen.add(shard).add(viaToken)
        byName.set(name, seen)
      }
      const split = [...byName].filter(([, seen]) => seen.size > 1)
      t.same(split, [], `sanitize ${sanitize}, ${shards} shards: ${byName.size} names, none on two shards`)
    }
  }
})

t.test('named cases: sanitising, tags, tokens, events', async (t) => {
  const shards = 4
  const same = (a: string, b: string, what: string): void => {
    const [ka, ta = ''] = a.split('|#')
    const [kb, tb = ''] = b.split('|#')
    t.equal(routeOf(ka!, ta, false, shards), routeOf(kb!, tb, false, shards), what)
  }
  same('foo/bar', 'foo-bar', '"/" is stored as "-"')
  same('a b', 'a_b', 'a space is stored as "_"')
  same('a \t b', 'a_b', 'a whitespace run is stored as one "_"')
  same('cafébar', 'cafbar', 'non-ASCII is dropped')
  same('m|#env:prod,host:a', 'm;env=prod;host=a', 'DogStatsD tags and the same tags in the key')
  t.equal(routeOf('tok.app.hits', '', true, shards), routeOf('app.hits', '', false, shards), 'a token listener routes the name after the token')
  let spread = new Set<number>()
  for (let i = 0; i < 64; i++) spread.add(routeOf(`app.key${i}`, '', false, shards))
  t.equal(spread.size, shards, 'different names spread over every shard')
  spread = new Set<number>()
  for (const line of ['_e{5,4}:title|text', '_sc|check|0', '_e{1,1}:a|b|#x:y']) spread.add(shardOfLine(Buffer.from(line), 0, line.length, false, shards))
  t.same([...spread], [0], 'events and service checks all go to shard 0')
})

const native = nativeRouting()

t.test('the addon routes every line as route.ts does', { skip: 'unavailable' in native ? native.unavailable : false }, async (t) => {
  if (!('addon' in native)) return
  const random = seededRandom(7)
  const alphabet = ['a', 'b', '.', '/', ':', '|', '#', ';', '_', ' ', 'é', 'e', '{', 's', 'c', '1', '=']
  let mismatches = 0
  for (let i = 0; i < 50_000; i++) {
    const line = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''))
    const token = random() < 0.5
    const shards = 1 + Math.floor(random() * 8)
    if (native.addon.shardOfLine(line, 0, line.length, token, shards) !== shardOfLine(line, 0, line.length, token, shards)) mismatches++
  }
  t.equal(mismatches, 0, '50,000 random lines, the same shard')
})

t.test('the addon routes long names as route.ts does', { skip: 'unavailable' in native ? native.unavailable : false }, async (t) => {
  if (!('addon' in native)) return
  const random = seededRandom(8)
  // Mostly bytes the hash keeps as they are, some of every other kind, at any offset in a larger buffer.
  const plain = 'abcxyzABCXYZ0189.=-'.split('')
  const other = ['/', ':', '|', '#', ';', '_', ' ', 'é', '\t', '{', '\u0001', '@', '[', '`', '\u007f', '*']
  let mismatches = 0
  for (let i = 0; i < 50_000; i++) {
    const pick = (): string => (random() < 0.9 ? plain[Math.floor(random() * plain.length)] : other[Math.floor(random() * other.length)])!
    const text = Array.from({ length: 1 + Math.floor(random() * 64) }, pick).join('')
    const before = Math.floor(random() * 9)
    const buf = Buffer.from(`${'x'.repeat(before)}${text}${'y'.repeat(Math.floor(random() * 9))}`)
    const end = before + Buffer.byteLength(text)
    const token = random() < 0.3
    const shards = 1 + Math.floor(random() * 300)
    if (native.addon.shardOfLine(buf, before, end, token, shards) !== shardOfLine(buf, before, end, token, shards)) mismatches++
  }
  t.equal(mismatches, 0, '50,000 random lines of up to 64 bytes, the same shard')
})

const routers: [string, (batches: ShardBatch[], tokens: boolean[]) => Router][] = [['JavaScript', (b, tk) => new JsRouter(b, tk)]]
if ('addon' in native) {
  routers.push(['native', (b, tk) => new NativeRouter(native.addon, b, tk)])
}

for (const [kind, makeRouter] of routers) {
t.test(`the ${kind} router: lines copied with a newline, each packet counted once, by listener`, async (t) => {
  const batches = [new ShardBatch(), new ShardBatch(), new ShardBatch()]
  const router = makeRouter(batches, [false, true])
  const datagrams = ['a:1|c\nb:2|c\nc:3|c', '', '\n\nd:4|c\r\n', 'tok.e:5|c']
  const slab = Buffer.from(datagrams.join(''))
  let end = 0
  const ends = Int32Array.from(datagrams.map((d) => (end += d.length)))
  const batch = new DatagramBatch(slab, ends)
  let start = 0
  for (let i = 0; i < batch.count; i++) {
    router.route(slab, start, ends[i]!, i === 3 ? 1 : 0)
    start = ends[i]!
  }
  const lines: string[] = []
  let packets = 0
  let bytes = 0
  for (const b of batches) {
    const taken = b.take()
    const text = taken.region.bytes.toString('latin1', 0, taken.length)
    lines.push(...text.split('\n').filter((l) => l !== ''))
    t.equal(text.length === 0 || text.endsWith('\n'), true, 'every line ends with a newline')
    for (let s = 0; s < taken.segments.length; s += SEGMENT_FIELDS) {
      packets += taken.segments[s + 1]!
      bytes += taken.segments[s + 2]!
    }
    t.ok(b.empty, 'a taken batch starts afresh')
  }
  t.same(lines.sort(), ['a:1|c', 'b:2|c', 'c:3|c', 'd:4|c\r', 'tok.e:5|c'])
  t.equal(packets, 4, 'every datagram counts once, empty ones too')
  t.equal(bytes, slab.length, 'and so do its bytes')
})
}

t.test('the native router hands a batch over to make room, in the ring or beside it', { skip: 'unavailable' in native ? native.unavailable : false }, async (t) => {
  if (!('addon' in native)) return
  const used = new Int32Array(2)
  const rings = [new ShardRing(1 << 20, used, 0), new ShardRing(1 << 20, used, 1)]
  const taken: TakenBatch[] = []
  const batches: ShardBatch[] = []
  for (const [i, ring] of rings.entries()) {
    batches.push(
      new ShardBatch(
        (min) => ring.region(min),
        () => {
          const batch = batches[i]!.take()
          if (batch.region.shared) ring.commit(batch.region, batch.length)
          taken.push(batch)
        },
      ),
    )
  }
  const router = new NativeRouter(native.addon, batches, [false])
  const lines = Array.from({ length: 200_000 }, (_, i) => `key.${i}:1|c`)
  // In datagrams of 500 lines: 3.6 MB in all, through rings of 1 MiB that nobody empties.
  for (let at = 0; at < lines.length; at += 500) {
    const datagram = Buffer.from(lines.slice(at, at + 500).join('\n'))
    router.route(datagram, 0, datagram.length, 0)
  }
  for (const batch of batches) taken.push(batch.take())
  t.ok(taken.some((b) => b.region.shared) && taken.some((b) => !b.region.shared), 'batches in the rings, and of their own once the rings were full')
  const routed = taken.flatMap((b) => b.region.bytes.toString('latin1', 0, b.length).split('\n').filter((l) => l !== ''))
  t.equal(routed.length, lines.length, 'every line routed once')
  t.same(routed.sort(), [...lines].sort(), 'byte for byte')
})

/** A workload with something of everything whose result must not depend on the number of threads. */
function workload(): { open: string[]; token: string[] } {
  const open: string[] = []
  for (let d = 0; d < 60; d++) {
    const lines: string[] = []
    for (let i = 0; i < 20; i++) {
      const k = (d * 20 + i) % 250
      lines.push(`w.c.${k}:${i}|c`, `w.c.${k}:2|c|@0.5`, `w.ms.${k % 50}:${(d * 7 + i) % 100}|ms`, `w.g.${k % 40}:${i}|g`, `w.g.${k % 40}:+2|g`)
      lines.push(`w.s.${k % 30}:m${(d + i) % 17}|s`, `w.h.${k % 10}:${i}|h`)
    }
    lines.push('w/san a:1|c', 'w-san_a:2|c', 'w-san\ta:3|c', 'w-san\u00e9 a:4|c')
    lines.push('w.tag:1|c|#env:prod,host:a', 'w.tag;env=prod;host=a:2|c', 'w.g.delta:-1|g', 'w.g.delta:+3|g')
    // Names that are not ASCII (sanitising drops those characters; test/name-bytes.test.ts has names that keep them).
    lines.push(`w.caf\u00e9.t:${d}|ms`, 'w.\u65e5\u672c:1|c', `w.g.\u00fc:${d}|g`, `w.s.\u{1f600}:${d % 7}|s`, `w.ms.tag;env=\u00e9:${d}|ms`)
    lines.push('no colon here', 'w.bad:abc|c', 'w.auth:1|c')
    if (d % 10 === 0) lines.push('_e{5,4}:title|text', '_sc|check|0')
    open.push(lines.join('\n'))
  }
  const token = Array.from({ length: 20 }, (_, d) => [`tok.w.auth:${d}|c`, `nope.w.auth:1|c`, 'w.auth:1|c', `tok.w.only:${d}|ms`].join('\n'))
  return { open, token }
}

/** One run of the workload with `workers` threads: the final flush's lines, without timestamps and timings, sorted. */
async function runWith(t: Test, workers: number): Promise<{ lines: string[]; logs: Record<string, unknown>[] }> {
  const { graphite, port } = await startFakeGraphite(t)
  const dir = shortTempDir(t)
  process.env.STATSD_TS_WORKERS = String(workers)
  const server = await ServerProcess.start(dir, {
    listeners: [
      { type: 'udp', address: '127.0.0.1', port: 0, recvBufferSize: 4 * 1024 * 1024 },
      { type: 'udp', address: '127.0.0.1', port: 0, auth: 'token' },
    ],
    auth: { tokens: { tok: true } },
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 600_000,
  })
  t.teardown(() => server.kill())
  const { open, token } = workload()
  await sendUdp(server.endpoints.udp[0]!, open)
  await sendUdp(server.endpoints.udp[1]!, token)
  t.equal(await server.stop(), 0, `${workers} workers: clean exit`)
  t.equal(graphite.flushes.length, 1, 'one flush, the final one')
  const values = graphiteValues(graphite.flushes[0] ?? '')
  t.equal((graphite.flushes[0] ?? '').split('\n').filter((l) => l !== '').length, values.size, `${workers} workers: no name written twice`)
  t.equal(values.get('stats_counts.statsd.packets_received'), String(open.length + token.length), `${workers} workers: every datagram counted once`)
  const lines = [...values]
    .filter(([name]) => !/(calculationtime|processing_time|graphiteStats\.(last_exception|last_flush|flush_time|flush_length))$/.test(name))
    // Sent with more than one thread only (0 unless a thread failed).
    .filter(([name]) => name !== 'stats.statsd.shards.lost_lines')
    // Listeners are named by their (free, so different) ports.
    .map(([name, value]) => `${name.replace(/(udp_|127_0_0_1_)\d+/g, '$1PORT')} ${value}`)
    .sort()
  return { lines, logs: server.logs }
}

t.test('the same flush from 1, 2 and 4 aggregation threads', async (t) => {
  const saved = process.env.STATSD_TS_WORKERS
  t.teardown(() => {
    if (saved === undefined) delete process.env.STATSD_TS_WORKERS
    else process.env.STATSD_TS_WORKERS = saved
  })
  const one = await runWith(t, 1)
  t.ok(one.lines.length > 500, `a flush of ${one.lines.length} lines`)
  const values = new Map(one.lines.map((l) => [l.slice(0, l.lastIndexOf(' ')), l.slice(l.lastIndexOf(' ') + 1)]))
  t.equal(values.get('stats_counts.w-san_a'), String(60 * 10), 'sanitised variants are one counter')
  t.equal(values.get('stats_counts.w.tag;env=prod;host=a'), String(60 * 3), 'tags and the same tags in the key are one counter')
  t.equal(values.get('stats_counts.w.auth'), String(60 + (19 * 20) / 2), 'a name from an open and a token listener is one counter')
  for (const workers of [2, 4]) {
    const many = await runWith(t, workers)
    t.match(many.logs.find((l) => l.msg === 'statsd server is up'), { workers, router: 'addon' in native ? 'native' : 'javascript' })
    t.same(many.lines, one.lines, `${workers} workers: the same ${one.lines.length} lines as one`)
  }
})

t.test('a shard whose thread fails: the others are flushed, what it held is counted as lost, exit 70', async (t) => {
  const saved = { workers: process.env.STATSD_TS_WORKERS, fault: process.env.STATSD_TS_TEST_SHARD_FAULT }
  t.teardown(() => {
    for (const [name, value] of [['STATSD_TS_WORKERS', saved.workers], ['STATSD_TS_TEST_SHARD_FAULT', saved.fault]] as const) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  process.env.STATSD_TS_WORKERS = '2'
  process.env.STATSD_TS_TEST_SHARD_FAULT = 'fault.now'
  const shardOf = (key: string): number => routeOf(key, '', false, 2)
  const failing = shardOf('fault.now')
  const names = Array.from({ length: 40 }, (_, i) => `k.${i}`)
  const kept = names.filter((n) => shardOf(n) !== failing)
  const lost = names.filter((n) => shardOf(n) === failing)
  t.ok(kept.length > 0 && lost.length > 0, 'keys on both shards')

  const { graphite, port } = await startFakeGraphite(t)
  const server = await ServerProcess.start(shortTempDir(t), {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 600_000,
  })
  t.teardown(() => server.kill())
  await sendUdp(server.endpoints.udp[0]!, [names.map((n) => `${n}:3|c`).join('\n')])
  await sendUdp(server.endpoints.udp[0]!, ['fault.now:1|c'])
  t.equal(await server.exited(), 70, 'exit status 70 (internal error), for the supervisor to restart it')
  const failed = server.logged('an aggregation thread failed: the lines it held are lost')[0]
  t.match(failed, { shard: failing, lostLines: lost.length + 1 }, 'the failed shard and the lines it held are logged')
  t.ok(server.logged('stopping: an aggregation thread failed (the other threads are flushed first)').length === 1)
  t.equal(graphite.flushes.length, 1, 'the final flush was sent')
  const values = graphiteValues(graphite.flushes[0] ?? '')
  for (const name of kept) t.equal(values.get(`stats_counts.${name}`), '3', `${name}: the other shard's keys are flushed`)
  t.same(lost.filter((name) => values.has(`stats_counts.${name}`)), [], "the failed shard's keys are not")
  t.equal(values.get('stats.statsd.shards.lost_lines'), String(lost.length + 1), 'the lost lines are a self-metric of the final flush')
})
