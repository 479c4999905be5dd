import { test } from 'tap'
import { TimerIntervals, TimerSlot } from '../src/aggregate/slots'

/*
 * Timers keep their values in one arena per interval (slots.ts). Checked
 * against a plain model: random values for many timers, interleaved with
 * flush instants and with the flush reaching each timer late, as the
 * incremental flush does.
 */

function random(seed: number): () => number {
  return () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed / 2 ** 32
  }
}

test('every value lands in its own timer and interval, through region moves, arena growth and late takes', async (t) => {
  const next = random(7)
  const intervals = new TimerIntervals()
  const timers = Array.from({ length: 300 }, (_, i) => new TimerSlot(`t${i}`, null, intervals))
  let current: number[][] = timers.map(() => [])
  let mismatches = 0
  for (let round = 0; round < 12; round++) {
    // Some timers get many values (regions move, the arena grows), most a few, some none.
    for (let n = 0; n < 20_000; n++) {
      const i = next() < 0.1 ? 0 : Math.floor(next() * timers.length)
      const value = Math.floor(next() * 1e6) / 8
      timers[i]!.add(value, 1)
      current[i]!.push(value)
    }
    for (let i = 0; i < timers.length; i++) {
      if (timers[i]!.values().join() !== current[i]!.join()) mismatches++
    }
    const ended = current
    current = timers.map(() => [])
    intervals.begin()
    // The flush reaches the timers in order while new values keep arriving for others.
    for (let i = 0; i < timers.length; i++) {
      for (let n = 0; n < 20; n++) {
        const j = Math.floor(next() * timers.length)
        const value = round * 1000 + n
        timers[j]!.add(value, 0.5)
        current[j]!.push(value)
      }
      const slot = timers[i]!
      slot.take()
      if (slot.taken().join() !== ended[i]!.join()) mismatches++
      slot.release()
    }
  }
  t.equal(mismatches, 0)
  t.equal(timers[1]!.count, current[1]!.length * 2, 'sample rates count as before')
})

test('a timer with no values in an interval hands over none', async (t) => {
  const intervals = new TimerIntervals()
  const slot = new TimerSlot('idle', null, intervals)
  slot.add(5, 1)
  intervals.begin()
  slot.take()
  t.same([...slot.taken()], [5])
  slot.release()
  intervals.begin()
  slot.take()
  t.same([...slot.taken()], [])
  t.equal(slot.takenCount, 0)
})

test('a steady load takes turns between two arenas; one still holding values is never reused', async (t) => {
  const intervals = new TimerIntervals()
  const steady = new TimerSlot('steady', null, intervals)
  const seen = new Set<unknown>()
  for (let round = 0; round < 6; round++) {
    for (let v = 0; v < 100; v++) steady.add(v, 1)
    intervals.begin()
    seen.add(intervals.arena)
    steady.take()
    steady.release()
  }
  t.equal(seen.size, 2, 'no new arena once the load is steady')

  // A timer the flush has not reached for two intervals keeps its values.
  const late = new TimerSlot('late', null, intervals)
  late.add(42, 1)
  intervals.begin()
  intervals.begin()
  for (let v = 0; v < 5000; v++) steady.add(v + 1000, 1)
  late.take()
  t.same([...late.taken()], [42])
})
