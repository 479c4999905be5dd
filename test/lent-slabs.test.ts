import t, { type Test } from 'tap'
import { IngestCounters } from '../src/core/ingest-counters'
import { ENDS_PER_SLAB, LentSlabs, SLAB_BYTES, slabsFor } from '../src/listeners/datagram/lent-slabs'
import { startUdpDatagramListener } from '../src/listeners/datagram/udp-native'
import { silentLogger } from '../src/log'
import { DatagramBatch, forEachDatagram, type Packet } from '../src/parse/packets'
import { PacketQueue } from '../src/queue/queue'
import { sendUdp, waitFor } from './helpers/net'

/* The slabs the reader thread copies datagrams into (src/listeners/datagram/lent-slabs.ts, native/statsd_reader.c). */

/** Does what the reader thread does: copies `datagrams` into slab `index`, then hands it over. */
function fill(slabs: LentSlabs, index: number, datagrams: string[]): DatagramBatch {
  let at = 0
  for (const [i, d] of datagrams.entries()) {
    at += slabs.memory.write(d, index * SLAB_BYTES + at)
    slabs.ends[index * ENDS_PER_SLAB + i] = at
  }
  return slabs.take(index, datagrams.length)
}

function contents(batch: Packet): string[] {
  const out: string[] = []
  forEachDatagram(batch, (d) => out.push(d.toString()))
  return out
}

t.test('a slab is lent until done(), which gives it back once', async (t) => {
  const slabs = new LentSlabs(4)
  const given: number[] = []
  slabs.onGiveBack = (index) => given.push(index)
  const batch = fill(slabs, 2, ['a:1|c', 'b:2|c'])
  t.equal(batch.count, 2)
  t.equal(batch.length, 10)
  t.ok(batch.lent)
  t.same(contents(batch), ['a:1|c', 'b:2|c'])
  batch.done()
  batch.done()
  t.same(given, [2], 'given back once')
  t.notOk(batch.lent)
  const again = fill(slabs, 2, ['c:3|c'])
  t.same(contents(again), ['c:3|c'], 'filled again')
})

t.test('datagrams taken from a lent batch are copies: they outlive the slab (the repeater keeps them)', async (t) => {
  const slabs = new LentSlabs(4)
  const batch = fill(slabs, 0, ['kept:1|c', 'also:2|c'])
  const kept: Buffer[] = []
  forEachDatagram(batch, (d) => kept.push(d))
  batch.done()
  fill(slabs, 0, ['XXXXXXXXXXXXXXXXXXXXXXXXXXXXX'])
  t.same(kept.map(String), ['kept:1|c', 'also:2|c'])
})

t.test("a reader gets the queue's maxBytes in slabs, within bounds", async (t) => {
  t.equal(slabsFor(64 * 1024 * 1024), 1024)
  t.equal(slabsFor(1000), 4)
  t.equal(slabsFor(2 ** 40), 16 * 1024)
})

/** A UDP listener on loopback with its reader thread, into a queue of `limits`, closed at the test's end. */
async function udpReader(t: Test, limits: { maxBytes: number; maxPackets: number }) {
  const counters = new IngestCounters()
  const queue = new PacketQueue(limits, counters)
  const listener = await startUdpDatagramListener({ type: 'udp', address: '127.0.0.1', port: 0 }, queue, counters, silentLogger())
  t.teardown(() => listener.close())
  return { counters, queue, to: { host: '127.0.0.1', port: (listener.boundAddress as { port: number }).port } }
}

t.test('udp: while the consumer holds every slab the reader drops and counts; given back, slabs are filled again', async (t) => {
  // Four slabs: the reader's whole queue.
  const { counters, queue, to } = await udpReader(t, { maxBytes: 4 * SLAB_BYTES, maxPackets: 100_000 })
  const held: DatagramBatch[] = []
  let sent = 0
  // One at a time, so that each is handed over alone while the consumer looks idle.
  while (held.length < 4) {
    await sendUdp(to, [`held${sent++}:1|c`])
    await waitFor(() => queue.length > 0 || counters.queueDroppedPackets > 0, 'a batch or a drop')
    if (queue.length > 0) held.push(queue.shift() as DatagramBatch)
  }
  t.equal(counters.queueDroppedPackets, 0)
  await sendUdp(to, ['dropped1:1|c', 'dropped2:1|c'])
  await waitFor(() => counters.queueDroppedPackets === 2, 'two drops counted')
  t.equal(counters.queueDroppedBytes, 24)
  t.same(held.flatMap(contents), Array.from({ length: sent }, (_, i) => `held${i}:1|c`), 'the held ones are untouched')
  for (const batch of held) batch.done()
  await sendUdp(to, ['after:1|c'])
  await waitFor(() => queue.length === 1, 'a batch')
  const after = queue.shift() as DatagramBatch
  t.ok(after.lent)
  t.same(contents(after), ['after:1|c'])
  after.done()
})

t.test("udp: the reader keeps at most the queue's maxPackets datagrams; a refused batch gives its slab back", async (t) => {
  const { counters, queue, to } = await udpReader(t, { maxBytes: 1 << 24, maxPackets: 3 })
  await sendUdp(to, Array.from({ length: 10 }, (_, i) => `m${i}:1|c`))
  // Held, not given back, until all are in: the three may come in one slab or several.
  const held: DatagramBatch[] = []
  const queued: string[] = []
  await waitFor(() => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      held.push(p as DatagramBatch)
      queued.push(...contents(p))
    }
    return counters.queueDroppedPackets === 7 && queued.length === 3
  }, '3 queued, 7 dropped')
  t.same(queued, ['m0:1|c', 'm1:1|c', 'm2:1|c'], 'the first three, in order')
  for (const batch of held) batch.done()
  await sendUdp(to, ['next:1|c'])
  await waitFor(() => queue.length === 1, 'a batch')
  t.same(contents(queue.shift()!), ['next:1|c'], 'room again once given back')
})

t.test('udp: slabs given back after the reader went idle go back to the kernel too (a backlog parsed once traffic stopped)', async (t) => {
  const { queue, to } = await udpReader(t, { maxBytes: 32 * SLAB_BYTES, maxPackets: 100_000 })
  const held: DatagramBatch[] = []
  // One per slab (two do not fit in one), all held by the consumer while the reader goes idle.
  for (let i = 0; i < 24; i++) {
    await sendUdp(to, [Buffer.alloc(40_000, 0x61 + (i % 26))])
    await waitFor(() => queue.length > 0, 'a batch')
    held.push(queue.shift() as DatagramBatch)
  }
  t.ok(held.every((b) => b.slab[8192] !== 0), 'their bytes are there while held')
  for (const batch of held) batch.done()
  // The reader keeps the 8 given back last resident (KEEP_RESIDENT); the memory of the others reads as zeros once given back.
  await waitFor(() => held.filter((b) => b.slab[8192] === 0).length >= held.length - 8, 'slabs given back to the kernel')
  t.pass('given back')
})
