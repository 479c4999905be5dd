import t from 'tap'
import { PARTS_AHEAD, PartsAhead, partTaken } from '../src/aggregate/shards/parts-ahead'

/* A shard posts a flush's parts only a few ahead of the main thread (src/aggregate/shards/parts-ahead.ts). */

/** Whether `p` resolves within `ms`. */
const within = (p: Promise<void>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))])

t.test('a shard waits once PARTS_AHEAD parts wait on the main thread, and goes on as soon as one is taken', async (t) => {
  const counts = new Int32Array(new SharedArrayBuffer(8))
  const ahead = new PartsAhead(counts, 1)
  for (let i = 0; i < PARTS_AHEAD; i++) {
    t.ok(await within(ahead.room(), 50), `room for part ${i + 1}`)
    ahead.posted()
  }
  t.equal(counts[1], PARTS_AHEAD)
  t.equal(counts[0], 0, "another shard's count is its own")
  const waiting = ahead.room()
  t.notOk(await within(waiting, 200), 'no room for one more')
  partTaken(counts, 1)
  t.ok(await within(waiting, 200), 'room once the main thread took one')
  t.equal(counts[1], PARTS_AHEAD - 1)
})

t.test('a flush never stalls: a shard waits at most a second, and each flush starts its count afresh', async (t) => {
  const counts = new Int32Array(new SharedArrayBuffer(4))
  const ahead = new PartsAhead(counts, 0)
  for (let i = 0; i < PARTS_AHEAD; i++) ahead.posted()
  // A pending Atomics.waitAsync does not keep the event loop alive (a shard's port does).
  const alive = setTimeout(() => {}, 10_000)
  const started = Date.now()
  await ahead.room()
  const waited = Date.now() - started
  clearTimeout(alive)
  t.ok(waited >= 900 && waited < 5000, `went on after ${waited} ms with nothing taken`)
  ahead.restart()
  t.ok(await within(ahead.room(), 50), 'a new flush has room at once')
})
