import { test } from 'tap'
import { KeyEntry } from '../src/aggregate/slots'
import { TimerTable } from '../src/aggregate/timer-table'
import { forgetPages } from '../src/core/forget-pages'

/*
 * Timers keep their values in one arena per interval (timer-table.ts). Checked
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
  const table = new TimerTable()
  const timers = Array.from({ length: 300 }, (_, i) => table.add(new KeyEntry(`t${i}`), null))
  let current: number[][] = timers.map(() => [])
  let mismatches = 0
  for (let round = 0; round < 12; round++) {
    // Some timers get many values (regions move, the arena grows), most a few, some none.
    for (let n = 0; n < 20_000; n++) {
      const i = next() < 0.1 ? 0 : Math.floor(next() * timers.length)
      const value = Math.floor(next() * 1e6) / 8
      table.addValue(timers[i]!, value, 1)
      current[i]!.push(value)
    }
    for (let i = 0; i < timers.length; i++) {
      if (table.values(timers[i]!).join() !== current[i]!.join()) mismatches++
    }
    const ended = current
    current = timers.map(() => [])
    t.equal(table.begin(), timers.length)
    // The flush reaches the timers in order while new values keep arriving for others.
    for (let i = 0; i < timers.length; i++) {
      for (let n = 0; n < 20; n++) {
        const j = Math.floor(next() * timers.length)
        const value = round * 1000 + n
        table.addValue(timers[j]!, value, 0.5)
        current[j]!.push(value)
      }
      const timer = timers[i]!
      table.take(timer)
      if (table.taken(timer).join() !== ended[i]!.join()) mismatches++
      table.release(timer)
    }
    table.finishedReading()
  }
  t.equal(mismatches, 0)
  table.begin()
  table.take(timers[1]!)
  t.equal(table.takenCount(timers[1]!), current[1]!.length * 2, 'sample rates count as before')
})

test('a timer with no values in an interval hands over none', async (t) => {
  const table = new TimerTable()
  const idle = table.add(new KeyEntry('idle'), null)
  t.ok(Number.isNaN(table.takenCount(idle)), 'no count before a first take')
  table.addValue(idle, 5, 1)
  table.begin()
  table.take(idle)
  t.same([...table.taken(idle)], [5])
  table.release(idle)
  table.begin()
  table.take(idle)
  t.same([...table.taken(idle)], [])
  t.equal(table.takenCount(idle), 0)
})

test('a steady load takes turns between two arenas; one still holding values is never reused', async (t) => {
  const table = new TimerTable()
  const steady = table.add(new KeyEntry('steady'), null)
  // Deleted with values not yet taken: its hold on the arena goes with it.
  const dropped = new KeyEntry('dropped')
  const seen = new Set<unknown>()
  for (let round = 0; round < 6; round++) {
    for (let v = 0; v < 100; v++) table.addValue(steady, v, 1)
    if (round === 2) table.addValue(table.add(dropped, null), 1, 1)
    if (round === 3) table.remove(dropped)
    table.begin()
    seen.add(table.intervals.arena)
    table.take(steady)
    table.release(steady)
    table.finishedReading()
  }
  t.equal(seen.size, 2, 'no new arena once the load is steady')

  // A timer the flush has not reached for two intervals keeps its values.
  const late = table.add(new KeyEntry('late'), null)
  table.addValue(late, 42, 1)
  table.begin()
  table.begin()
  for (let v = 0; v < 5000; v++) table.addValue(steady, v + 1000, 1)
  table.take(late)
  t.same([...table.taken(late)], [42])
})

test('deleted timers are skipped, and compacted away at the next instant once the flush has read the table', async (t) => {
  const table = new TimerTable()
  const entries = Array.from({ length: 100 }, (_, i) => new KeyEntry(`t${i}`))
  for (const e of entries) table.addValue(table.add(e, null), Number(e.name.slice(1)), 1)
  const count = table.begin()
  for (const e of entries.filter((_, i) => i % 3 === 0)) table.remove(e)
  t.equal(table.size, 66)
  // Re-created during the flush: after the timers the flush goes through.
  table.addValue(table.add(entries[0]!, null), 1000, 1)
  t.equal(entries[0]!.timer, 100)
  const taken: string[] = []
  for (let i = 0; i < count; i++) {
    if (!table.isLive(i)) continue
    table.take(i)
    taken.push(`${table.name(i)}=${table.taken(i).join()}`)
    table.release(i)
  }
  t.equal(taken.length, 66)
  t.equal(taken[0], 't1=1')
  // Not yet compacted: the flush has not said it is done.
  table.begin()
  t.equal(entries[0]!.timer, 100)
  table.finishedReading()
  table.begin()
  t.same([...table.live()].map((i) => table.name(i)).slice(0, 3), ['t1', 't2', 't4'], 'order kept')
  t.equal(entries[0]!.timer, 66, 'the re-created one last')
  t.same([...table.values(entries[0]!.timer)], [1000], 'its values are still there before it is taken')
  t.same(entries.map((e) => e.timer).filter((i) => i >= 0).length, 67)
})

test('a timer whose count varies by one or two between intervals keeps its region: the arena holds little more than the values', async (t) => {
  const table = new TimerTable()
  const timers = Array.from({ length: 1000 }, (_, i) => table.add(new KeyEntry(`t${i}`), null))
  let ratio = 0
  for (let round = 0; round < 6; round++) {
    // 10 or 11 values each, as a fixed rate gives them when the flush instant falls between two.
    const each = 10 + ((round * 7) % 3 === 0 ? 1 : 0) + (round % 2)
    for (const timer of timers) for (let v = 0; v < each; v++) table.addValue(timer, v, 1)
    ratio = table.intervals.arena.used / (each * timers.length)
    table.begin()
    for (const timer of timers) {
      table.take(timer)
      table.release(timer)
    }
    table.finishedReading()
  }
  // An exact fit (the last count) moved the timers that got one more value to a region twice as large.
  t.ok(ratio < 1.4, `arena room per value ${ratio.toFixed(2)}`)
})

test('an arena grows without copying up to its reservation', async (t) => {
  const table = new TimerTable()
  const timers = Array.from({ length: 100 }, (_, i) => table.add(new KeyEntry(`t${i}`), null))
  table.addValue(timers[0]!, 0, 1)
  const data = table.intervals.arena.data
  for (let v = 0; v < 1_000_000; v++) table.addValue(timers[v % timers.length]!, v, 1)
  t.equal(table.intervals.arena.data, data, 'the same memory')
  t.same([...table.values(timers[3]!)].slice(0, 3), [3, 103, 203])
  t.equal(table.values(timers[3]!).length, 10_000)
})

const withoutAddon = forgetPages(new Float64Array(4096)) === 0 && 'without the addon, memory is never given back'
test('regions no longer used give their memory back: those timers moved out of, then those a flush has read', { skip: withoutAddon }, async (t) => {
  const table = new TimerTable()
  const timers = Array.from({ length: 4000 }, (_, i) => table.add(new KeyEntry(`t${i}`), null))
  // A rate going up: 40 values each, one round at a time, so that every timer moves from 4 to 8, 16, 32, then 64 values' room.
  for (let v = 1; v <= 40; v++) for (const timer of timers) table.addValue(timer, v, 1)
  const arena = table.intervals.arena
  const nonZero = (): number => arena.data.subarray(0, arena.used).reduce((n, x) => (x === 0 ? n : n + 1), 0)
  // Every value written stays resident without it: 4 + 8 + 16 + 32 values per timer in the regions it left, and its 40.
  const inUse = 40 * timers.length
  t.ok(nonZero() < 1.2 * inUse, `${nonZero()} values left in memory for ${inUse} in use`)
  t.equal(table.values(timers[1234]!).join(), Array.from({ length: 40 }, (_, i) => i + 1).join(), 'values in use are kept')
  table.begin()
  for (const timer of timers) {
    table.take(timer)
    t.equal(table.taken(timer).length, 40)
    table.release(timer)
  }
  table.finishedReading()
  t.ok(nonZero() < 0.01 * inUse, `${nonZero()} values left in memory once the flush read them`)
})
