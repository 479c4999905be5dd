import t from 'tap'
import { IntervalEpochs } from '../src/aggregate/shards/epoch'
import { createLanes, type Lane, LaneReader, laneSpec } from '../src/aggregate/shards/lanes'
import { shardOfLine } from '../src/aggregate/shards/route'
import { LentSlabs } from '../src/listeners/datagram/lent-slabs'
import { nativeReader } from '../src/listeners/datagram/native-reader'
import { nativeFunctions } from '../src/core/native-addon'
import { udpSocketOn } from './helpers/load'
import { sendUdp, waitFor } from './helpers/net'
import { seededRandom } from './helpers/random'

/*
 * Lanes (src/aggregate/shards/lanes.ts): a datagram reader thread routes
 * every line into the lane of the shard route.ts names for it, each
 * datagram counted once, a datagram that does not fit dropped whole and
 * counted, and lanes that wrap round many times lose nothing. The reader
 * runs here without workers (no doorbells): the test reads the lanes itself.
 */

const native = nativeReader()
const bells = nativeFunctions<{ openDoorbell(onRing: () => void): number }>(['openDoorbell'])
const skip = 'unavailable' in native ? native.unavailable : false
const SOURCE = 5
const SMALL_LANE = 256 * 1024

interface Routed {
  /** Per lane: its lines. */
  lines: string[][]
  packets: number
  bytes: number
  sources: Set<number>
  origins: Set<string>
}

/**
 * A native reader on a fresh UDP socket that routes into `shards` lanes of
 * `size` bytes. Its receive buffer is under 1 MiB, so the thread reads on
 * readiness rather than in ticks (native/statsd_reader.c): what was sent
 * reaches the lanes at once.
 */
function startRouting(shards: number, size: number, token: boolean, recvBuffer = 256 * 1024, doorbells = false) {
  if (!('addon' in native) || !('addon' in bells)) throw new Error('no addon')
  const { addon } = native
  const bound = addon.bindUdp('127.0.0.1', 0, recvBuffer)
  const lanes = createLanes(shards, size)
  const slabs = new LentSlabs(1)
  const stats = new Float64Array(8)
  const readers = lanes.map((lane: Lane) => {
    const reader = new LaneReader()
    reader.add(lane)
    return reader
  })
  const routed: Routed = { lines: lanes.map(() => []), packets: 0, bytes: 0, sources: new Set(), origins: new Set() }
  const drainLane = (i: number): void =>
    readers[i]!.drain((buf, start, end, source, packets, bytes, pid, uid) => {
      routed.lines[i]!.push(...buf.toString('latin1', start, end).split('\n').slice(0, -1))
      routed.packets += packets
      routed.bytes += bytes
      routed.sources.add(source)
      routed.origins.add(`${pid}/${uid}`)
    })
  const drain = (): void => readers.forEach((_, i) => drainLane(i))
  /** With doorbells, a lane is read only when the reader rings (as a shard's thread does); counted per lane. */
  const rings = lanes.map(() => 0)
  const ids = lanes.map((_, i) =>
    doorbells
      ? bells.addon.openDoorbell(() => {
          rings[i]!++
          drainLane(i)
        })
      : -1,
  )
  const epochs = new IntervalEpochs()
  const spec = laneSpec(lanes, SOURCE, token, ids, { interval: epochs.interval, batch: epochs.readerWord() })
  const handle = addon.startReader(bound.fd, () => {}, slabs.memory, slabs.ends, 1, 1000, null, spec)
  let stopped = false
  return {
    target: { host: '127.0.0.1', port: bound.port },
    routed,
    rings,
    drain,
    epochs,
    readers,
    /** Reads the lanes until `packets` datagrams are routed or counted as dropped. */
    drainUntil: (packets: number): Promise<void> =>
      waitFor(() => {
        drain()
        addon.readerStats(handle, stats)
        return routed.packets + stats[1]! >= packets
      }, `${packets} datagrams`),
    dropped: (): number => {
      addon.readerStats(handle, stats)
      return stats[1]!
    },
    stop: (): void => {
      if (!stopped) addon.stopReader(handle)
      stopped = true
    },
  }
}

/** Random datagrams of random lines, newlines and empty lines among them. */
function randomDatagrams(seed: number, count: number): string[] {
  const random = seededRandom(seed)
  const alphabet = ['a', 'b', '.', '/', ':', '|', '#', ';', '_', ' ', 'é', 'e', '{', 's', 'c', '1', '=', 'tok.', '_e{', '_sc|']
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + Math.floor(random() * 12) }, () =>
      random() < 0.1 ? '' : Array.from({ length: 1 + Math.floor(random() * 10) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''),
    ).join(random() < 0.1 ? '\r\n' : '\n') + (random() < 0.2 ? '\n' : ''),
  ).map((d) => (d === '' ? '\n' : d)) // an empty datagram is never read
}

/** Sends the datagrams a hundred at a time, reading the lanes after each hundred, then stops the reader and reads what is left. */
async function routeAll(lanes: ReturnType<typeof startRouting>, datagrams: string[]): Promise<void> {
  for (let at = 0; at < datagrams.length; at += 100) {
    await sendUdp(lanes.target, datagrams.slice(at, at + 100))
    await lanes.drainUntil(Math.min(at + 100, datagrams.length))
  }
  lanes.stop()
  // A datagram counts in its first line's lane: the other lane's part of the last ones may have been published after that lane was read.
  lanes.drain()
}

const linesOf = (datagrams: string[]): string[] => datagrams.flatMap((d) => d.split('\n').filter((l) => l !== ''))

t.test('the reader thread puts every line in the lane route.ts names, each datagram counted once', { skip }, async (t) => {
  for (const [shards, token] of [[2, false], [3, true], [4, false]] as const) {
    const lanes = startRouting(shards, SMALL_LANE, token)
    t.teardown(lanes.stop)
    const datagrams = randomDatagrams(shards, 3_000)
    const expected = linesOf(datagrams)
    await routeAll(lanes, datagrams)
    const { routed } = lanes
    const misrouted = routed.lines.flatMap((lines, lane) =>
      lines.filter((line) => shardOfLine(Buffer.from(line, 'latin1'), 0, Buffer.byteLength(line, 'latin1'), token, shards) !== lane),
    )
    const what = `${shards} shards${token ? ', token listener' : ''}`
    t.same(misrouted, [], `${what}: every line in its shard's lane`)
    t.same(routed.lines.flat().sort(), expected.map((l) => Buffer.from(l).toString('latin1')).sort(), `${what}: all ${expected.length} lines, byte for byte`)
    t.equal(routed.bytes, datagrams.reduce((n, d) => n + Buffer.byteLength(d), 0), `${what}: the datagrams' bytes counted once`)
    t.same([...routed.sources], [SOURCE], `${what}: the listener travels with the lines`)
    t.same([...routed.origins], ['-1/-1'], `${what}: no sender read on UDP`)
    t.equal(lanes.dropped(), 0, `${what}: nothing dropped`)
  }
})

t.test('lines of every length from 1 to 100, ending anywhere in a datagram, reach their lanes byte for byte', { skip }, async (t) => {
  // The reader looks for line ends 16 and 32 bytes at a time and copies short lines in 16-byte moves (native/statsd_lanes.c).
  const lanes = startRouting(2, SMALL_LANE, false)
  t.teardown(lanes.stop)
  const random = seededRandom(100)
  const line = (length: number): string => Array.from({ length }, () => 'abcxyz0189.-/_:|#'[Math.floor(random() * 17)]).join('')
  const datagrams: string[] = []
  for (let length = 1; length <= 100; length++) {
    datagrams.push(line(length)) // alone, no newline: it ends with the datagram
    datagrams.push(`${line(length)}\n${line(1 + Math.floor(random() * 40))}\n${line(length)}`)
    datagrams.push(Array.from({ length: 5 }, () => line(length)).join('\n') + '\n')
  }
  const expected = linesOf(datagrams)
  await routeAll(lanes, datagrams)
  const { routed } = lanes
  t.same(routed.lines.flat().sort(), expected.sort(), `all ${expected.length} lines, byte for byte`)
  const misrouted = routed.lines.flatMap((lines, lane) => lines.filter((l) => shardOfLine(Buffer.from(l, 'latin1'), 0, l.length, false, 2) !== lane))
  t.same(misrouted, [], 'every line in its shard\'s lane')
  t.equal(lanes.dropped(), 0, 'nothing dropped')
})

t.test('names of plain bytes of every length, however they end, reach the lane route.ts names', { skip }, async (t) => {
  // The reader hashes a name of bytes kept as they are 16 bytes at a time and a word at a time, others byte by byte (native/statsd_hash.h).
  const random = seededRandom(101)
  const plain = 'abcxyzABCXYZ0189.=-'
  const name = (length: number): string => Array.from({ length }, () => plain[Math.floor(random() * plain.length)]).join('')
  const ends = [':1|c', ';a=b:1|c', '', '/x:1|c', '_y:2|ms', ' z:3|g', 'é:1|c', '|#t:v']
  for (const shards of [2, 3]) {
    const lanes = startRouting(shards, SMALL_LANE, false)
    t.teardown(lanes.stop)
    const datagrams: string[] = []
    for (let length = 0; length <= 48; length++) {
      for (const end of ends) {
        if (length === 0 && end === '') continue
        datagrams.push(`${name(length)}${end}`)
        datagrams.push(`${name(length)}${end}\n${name(1 + Math.floor(random() * 20))}${end}\n`)
      }
    }
    const expected = linesOf(datagrams).map((l) => Buffer.from(l).toString('latin1'))
    await routeAll(lanes, datagrams)
    const { routed } = lanes
    t.same(routed.lines.flat().sort(), expected.sort(), `${shards} shards: all ${expected.length} lines, byte for byte`)
    const misrouted = routed.lines.flatMap((lines, lane) => lines.filter((l) => shardOfLine(Buffer.from(l, 'latin1'), 0, l.length, false, shards) !== lane))
    t.same(misrouted, [], `${shards} shards: every line in its shard's lane`)
    t.ok(routed.lines.every((lines) => lines.length > 0), `${shards} shards: every lane has lines`)
  }
})
t.test('the doorbells: a lone datagram wakes its shards at once, and a burst reaches them by rings alone', { skip }, async (t) => {
  // The reader rings once per read pass, not per recvmmsg() batch (native/statsd_lanes.c): a pass that reads one datagram still rings.
  // A receive buffer that holds each hundred sent (the kernel must drop none on a busy machine), if net.core.rmem_max allows.
  const lanes = startRouting(2, SMALL_LANE, false, 4 << 20, true)
  t.teardown(lanes.stop)
  const keyFor = (shard: number): string => {
    for (let i = 0; ; i++) if (shardOfLine(Buffer.from(`lone${i}`), 0, `lone${i}`.length, false, 2) === shard) return `lone${i}`
  }
  const lone = `${keyFor(0)}:1|c\n${keyFor(1)}:2|c`
  await sendUdp(lanes.target, [lone])
  await waitFor(() => lanes.routed.packets === 1 && lanes.routed.lines.every((l) => l.length === 1), 'both shards rung for the lone datagram')
  t.same(lanes.routed.lines, [[`${keyFor(0)}:1|c`], [`${keyFor(1)}:2|c`]], 'each line in its lane, read on its ring')
  t.ok(lanes.rings.every((n) => n >= 1), 'each lane was rung')
  // A burst: many read passes and batches, every datagram read on rings alone.
  const burst = Array.from({ length: 2_000 }, (_, i) => Array.from({ length: 10 }, (_, j) => `burst.${i}.${j}:1|c`).join('\n'))
  // A hundred at a time, each hundred read before the next is sent: a slow reader of the lanes (this thread, on a loaded machine) must not drop any.
  for (let at = 0; at < burst.length; at += 100) {
    const upTo = Math.min(at + 100, burst.length)
    await sendUdp(lanes.target, burst.slice(at, upTo))
    await waitFor(() => lanes.routed.packets + lanes.dropped() >= 1 + upTo, `the burst's first ${upTo}, by rings`)
  }
  t.equal(lanes.routed.lines.flat().length, 2 + 20_000, 'every line of the burst')
  t.equal(lanes.dropped(), 0, 'nothing dropped')
})

t.test('lanes nobody reads: a datagram that does not fit is dropped whole and counted, the reader never waits', { skip }, async (t) => {
  // A receive buffer that holds everything sent (the kernel must drop none here), if net.core.rmem_max allows.
  const lanes = startRouting(2, SMALL_LANE, false, 4 << 20)
  t.teardown(lanes.stop)
  // 1,000 datagrams of 40 lines, each line naming its datagram: 1.2 MB for two lanes of 256 KiB.
  const datagrams = Array.from({ length: 1_000 }, (_, d) => Array.from({ length: 40 }, (_, i) => `full.d${d}.key${i}:1|c`).join('\n'))
  for (let at = 0; at < datagrams.length; at += 100) {
    await sendUdp(lanes.target, datagrams.slice(at, at + 100))
    await waitFor(() => udpSocketOn(lanes.target).rxQueue === 0, 'the reader to take what was sent')
  }
  t.equal(udpSocketOn(lanes.target).drops, 0, 'the kernel dropped none')
  lanes.stop()
  lanes.drain()
  const { routed } = lanes
  const perDatagram = new Map<string, number>()
  for (const line of routed.lines.flat()) {
    const d = line.split('.')[1]!
    perDatagram.set(d, (perDatagram.get(d) ?? 0) + 1)
  }
  t.ok(lanes.dropped() > 0, `${lanes.dropped()} datagrams dropped`)
  t.equal(routed.packets + lanes.dropped(), datagrams.length, 'every datagram either routed or counted as dropped')
  t.equal(perDatagram.size, routed.packets, 'the routed ones are the datagrams counted')
  t.same([...perDatagram.values()].filter((n) => n !== 40), [], 'no datagram routed in part')
})

t.test('lanes that wrap round many times: everything arrives, in order', { skip }, async (t) => {
  const lanes = startRouting(2, SMALL_LANE, false)
  t.teardown(lanes.stop)
  // 8 MB through lanes of 256 KiB, read as it comes.
  const datagrams = Array.from({ length: 8_000 }, (_, d) => Array.from({ length: 40 }, (_, i) => `wrap.${i % 16}.k:${d}|c`).join('\n'))
  for (let at = 0; at < datagrams.length; at += 50) {
    await sendUdp(lanes.target, datagrams.slice(at, at + 50))
    await lanes.drainUntil(at + 50)
  }
  lanes.stop()
  lanes.drain() // as routeAll does
  t.equal(lanes.dropped(), 0, 'nothing dropped')
  const { routed } = lanes
  t.equal(routed.lines.flat().length, datagrams.length * 40, 'every line')
  for (const [lane, lines] of routed.lines.entries()) {
    const byKey = new Map<string, number[]>()
    for (const line of lines) {
      const [key, value] = line.split(':')
      const values = byKey.get(key!) ?? []
      values.push(Number.parseInt(value!, 10))
      byKey.set(key!, values)
    }
    const outOfOrder = [...byKey].filter(([, values]) => values.some((v, i) => i > 0 && v < values[i - 1]!))
    t.same(outOfOrder, [], `lane ${lane}: each key's lines in the order sent`)
  }
})

t.test('the flush boundary: a datagram\'s lines all fall in one interval, whatever lanes they go to and whenever each is read', { skip }, async (t) => {
  // As the shards do (src/aggregate/shards/shard-worker.ts): the main thread starts an interval, then each shard, in its own
  // time, reads its lane up to that instant and moves on; the reader thread goes on routing meanwhile.
  const shards = 4
  const lanes = startRouting(shards, SMALL_LANE, false, 4 << 20)
  t.teardown(lanes.stop)
  const { epochs, readers } = lanes
  const current = readers.map(() => 0)
  /** Per datagram, the intervals its lines were read in. */
  const intervals = new Map<string, Set<number>>()
  let lines = 0
  const drainLane = (i: number): void =>
    readers[i]!.drain((buf, start, end) => {
      for (const line of buf.toString('latin1', start, end).split('\n').slice(0, -1)) {
        const d = line.slice(0, line.indexOf('.'))
        const seen = intervals.get(d) ?? new Set()
        seen.add(current[i]!)
        intervals.set(d, seen)
        lines++
      }
    })
  const take = (i: number, epoch: number): void => {
    drainLane(i)
    readers[i]!.startInterval(epoch)
    current[i] = epoch
    drainLane(i)
  }
  const datagrams = Array.from({ length: 4_000 }, (_, d) => Array.from({ length: 16 }, (_, k) => `d${d}.k${k}:1|c`).join('\n'))
  let epoch = 0
  for (let at = 0; at < datagrams.length; at += 50) {
    let sent = false
    const sending = sendUdp(lanes.target, datagrams.slice(at, at + 50)).then(() => (sent = true))
    do {
      epoch = epochs.advance()
      // Each lane taken at a different moment, with the reader routing in between.
      for (let i = 0; i < shards; i++) {
        take(i, epoch)
        await new Promise((resolve) => setImmediate(resolve))
      }
    } while (!sent)
    await sending
  }
  await waitFor(() => {
    readers.forEach((_, i) => drainLane(i))
    return lines + lanes.dropped() * 16 >= datagrams.length * 16
  }, 'every datagram')
  lanes.stop()
  t.equal(lanes.dropped(), 0, 'nothing dropped')
  t.equal(lines, datagrams.length * 16, 'every line read once')
  const straddling = [...intervals].filter(([, seen]) => seen.size > 1).map(([d]) => d)
  t.same(straddling, [], 'no datagram has lines in two intervals')
  const used = new Set([...intervals.values()].flatMap((seen) => [...seen]))
  t.ok(used.size > 1, `the datagrams fell in ${used.size} of ${epoch + 1} intervals`)
})
