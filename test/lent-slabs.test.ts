import t from 'tap'
import { IngestCounters } from '../src/core/ingest-counters'
import { LentSlabs } from '../src/listeners/datagram/lent-slabs'
import { startUdpDatagramListener } from '../src/listeners/datagram/udp-native'
import { silentLogger } from '../src/log'
import { DatagramBatch, forEachDatagram, type Packet } from '../src/parse/packets'
import { PacketQueue } from '../src/queue/queue'
import { sendUdp, waitFor } from './helpers/net'

/* The slabs the recvmmsg reader copies batches into (src/listeners/datagram/lent-slabs.ts). */

const SLABS = 32

/** Does what the addon does: copies `datagrams` into the slab next[0] names, then hands it over. */
function fill(slabs: LentSlabs, datagrams: string[]): DatagramBatch {
  const index = slabs.next[0]!
  const base = index * (slabs.memory.length / SLABS)
  let at = 0
  for (const [i, d] of datagrams.entries()) {
    at += slabs.memory.write(d, base + at)
    slabs.ends[index * 64 + i] = at
  }
  return slabs.take(index, datagrams.length)
}

function contents(batch: DatagramBatch): string[] {
  const out: string[] = []
  forEachDatagram(batch, (d) => out.push(d.toString()))
  return out
}

t.test('a batch is lent until done(), and its slab is then filled again first', async (t) => {
  const slabs = new LentSlabs()
  const first = fill(slabs, ['a:1|c', 'b:2|c'])
  t.equal(first.count, 2)
  t.equal(first.length, 10)
  t.ok(first.lent)
  t.same(contents(first), ['a:1|c', 'b:2|c'])
  const second = fill(slabs, ['c:3|c'])
  t.not(second.slab.byteOffset, first.slab.byteOffset, 'a lent slab is not filled again')
  first.done()
  t.notOk(first.lent)
  const third = fill(slabs, ['d:4|c'])
  t.equal(third.slab.byteOffset, first.slab.byteOffset, 'the slab given back is filled next')
  t.same(contents(third), ['d:4|c'])
})

t.test('with every slab lent the addon is told there is none; done() twice gives back one slab', async (t) => {
  const slabs = new LentSlabs()
  const batches = Array.from({ length: SLABS }, (_, i) => fill(slabs, [`k${i}:1|c`]))
  t.equal(slabs.next[0], -1, 'none free: the addon allocates a Buffer instead')
  batches[5]!.done()
  batches[5]!.done()
  t.equal(slabs.next[0], 5)
  fill(slabs, ['again:1|c'])
  t.equal(slabs.next[0], -1, 'the second done() gave back nothing')
  t.same(batches.slice(6).map((b) => contents(b)[0]), Array.from({ length: SLABS - 6 }, (_, i) => `k${i + 6}:1|c`), 'the others are untouched')
})

t.test('datagrams taken from a lent batch are copies: they outlive the slab (the repeater keeps them)', async (t) => {
  const slabs = new LentSlabs()
  const batch = fill(slabs, ['kept:1|c', 'also:2|c'])
  const kept: Buffer[] = []
  forEachDatagram(batch, (d) => kept.push(d))
  batch.done()
  fill(slabs, ['XXXXXXXXXXXXXXXXXXXXXXXXXXXXX'])
  t.same(kept.map(String), ['kept:1|c', 'also:2|c'])
})

t.test('udp: while the consumer holds every slab, batches get Buffers of their own; given back, slabs are lent again', async (t) => {
  const queue = new PacketQueue({ maxBytes: 1 << 24, maxPackets: 100_000 }, new IngestCounters())
  const listener = await startUdpDatagramListener({ type: 'udp', address: '127.0.0.1', port: 0 }, queue, new IngestCounters(), silentLogger())
  t.teardown(() => listener.close())
  const bound = listener.boundAddress as { port: number }
  const held: Packet[] = []
  const sendOne = async (line: string): Promise<DatagramBatch> => {
    await sendUdp({ host: '127.0.0.1', port: bound.port }, [line])
    await waitFor(() => queue.length > 0, line)
    const packet = queue.shift()!
    if (!(packet instanceof DatagramBatch)) throw new Error('not a batch')
    held.push(packet)
    return packet
  }
  const lent: boolean[] = []
  for (let i = 0; i < SLABS + 8; i++) lent.push((await sendOne(`held${i}:1|c`)).lent)
  t.same(lent, [...Array<boolean>(SLABS).fill(true), ...Array<boolean>(8).fill(false)], 'the first 32 lent, the rest their own')
  t.same(
    held.flatMap((p) => contents(p as DatagramBatch)),
    Array.from({ length: SLABS + 8 }, (_, i) => `held${i}:1|c`),
    'none altered',
  )
  for (const p of held) (p as DatagramBatch).done()
  t.ok((await sendOne('after:1|c')).lent, 'lent again once given back')
})

t.test('udp: a batch the full queue refuses gives its slab back at once', async (t) => {
  const counters = new IngestCounters()
  const queue = new PacketQueue({ maxBytes: 1 << 24, maxPackets: 1 }, counters)
  const listener = await startUdpDatagramListener({ type: 'udp', address: '127.0.0.1', port: 0 }, queue, counters, silentLogger())
  t.teardown(() => listener.close())
  const to = { host: '127.0.0.1', port: (listener.boundAddress as { port: number }).port }
  await sendUdp(to, ['first:1|c'])
  await waitFor(() => queue.length === 1, 'a queued batch')
  // One at a time, so that each is a batch of its own: more refusals than there are slabs.
  for (let i = 1; i <= SLABS + 8; i++) {
    await sendUdp(to, [`refused${i}:1|c`])
    await waitFor(() => counters.queueDroppedPackets === i, `${i} refused`)
  }
  const first = queue.shift() as DatagramBatch
  t.same(contents(first), ['first:1|c'])
  await sendUdp(to, ['next:1|c'])
  await waitFor(() => queue.length === 1, 'a queued batch')
  const next = queue.shift() as DatagramBatch
  t.ok(next.lent, 'refused batches did not keep their slabs')
  t.same(contents(next), ['next:1|c'])
})
