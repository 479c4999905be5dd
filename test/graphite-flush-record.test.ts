import t from 'tap'
import { TimerColumns } from '../src/aggregate/timer-columns'
import { PartRows } from '../src/aggregate/part-rows'
import { BLOCK_BYTES, BlockPool, Columns, partStep } from '../src/backends/graphite/flush-record'

/*
 * The Graphite backend's flush records (src/backends/graphite/flush-record.ts):
 * columns cut from pooled blocks never overlap, survive the flush loop's
 * reuse of its part, and their blocks serve the next record once released.
 */

t.test('columns of one record never overlap, across blocks and beyond one', async (t) => {
  const columns = new Columns(new BlockPool())
  const made: [Float64Array | Int32Array, number[]][] = []
  // Sizes that fill blocks unevenly, one larger than a block.
  for (const n of [1, 3, 1000, 30_000, 5, BLOCK_BYTES / 8 + 1, 7, 20_000]) {
    const values = Array.from({ length: n }, (_, i) => made.length * 1_000_000 + i)
    made.push([n % 2 === 0 ? columns.f64(values) : columns.i32(values), values])
  }
  for (const [column, values] of made) t.ok(Array.from(column).every((v, i) => v === values[i]), `${values.length} values intact`)
  t.ok(columns.held >= BLOCK_BYTES * 2, `${columns.held} bytes held`)
})

t.test("a part is copied: the flush loop's reuse of its arrays changes nothing; the formatter gets it back whole", async (t) => {
  const timers = new TimerColumns(['count', 'mean'])
  timers.push(0, 3)
  timers.push(1, 1.5)
  timers.endTimer('a.t')
  const part = { counters: [{ name: 'a.c', value: 4, rate: 0.4 }], timers, gauges: [{ name: 'a.g', value: -2 }], sets: [{ name: 'a.s', count: 7 }] }
  const [step, bytes] = partStep(part, new Columns(new BlockPool()))
  part.counters[0]!.value = 99
  timers.values[0] = 99
  timers.clear()
  if (step.kind !== 'part') throw new Error('not a part')
  const again = step.part.toPart(new PartRows())
  t.strictSame(again.counters, [{ name: 'a.c', value: 4, rate: 0.4 }])
  t.strictSame(again.timers.entries(), [{ name: 'a.t', stats: [['count', 3], ['mean', 1.5]] }])
  t.strictSame(again.gauges, [{ name: 'a.g', value: -2 }])
  t.strictSame(again.sets, [{ name: 'a.s', count: 7 }])
  t.ok(bytes >= BLOCK_BYTES, 'the block it took counts against the bound')
})

t.test("a released record's blocks serve the next one; a record released early writes into memory of its own", async (t) => {
  const pool = new BlockPool()
  const first = new Columns(pool)
  const kept = first.f64([1, 2, 3])
  first.release()
  t.equal(pool.size, 1, 'its block is back in the pool')
  const next = new Columns(pool)
  next.f64([4, 5, 6])
  t.equal(pool.size, 0, 'and taken by the next record')
  t.strictSame(Array.from(kept), [4, 5, 6], 'the same memory (the first record is done with it)')
  // The outbox may let go of a record while the flush loop still writes it (dropped at shutdown).
  const late = first.f64([7, 8])
  next.f64([9, 10])
  t.strictSame(Array.from(late), [7, 8], 'what it writes after its release is no other record’s')
})

t.test("timers with the same statistics keep their ids once per part, and replay as they were; others keep each timer's", async (t) => {
  const names = ['count', 'mean', 'upper', 'histogram.bin_10']
  const make = (histogramAt: number): TimerColumns => {
    const timers = new TimerColumns(names)
    for (let i = 0; i < 30_000; i++) {
      for (let id = 0; id < 3; id++) timers.push(id, i * 10 + id)
      if (i === histogramAt) timers.push(3, 42)
      timers.endTimer(`t${i}`)
    }
    return timers
  }
  const record = (timers: TimerColumns): [ReturnType<typeof partStep>[0], number] => {
    const columns = new Columns(new BlockPool())
    const [step] = partStep({ counters: [], timers, gauges: [], sets: [] }, columns)
    return [step, columns.held]
  }
  const uniform = make(-1)
  const mixed = make(24_321)
  const [uniformStep, uniformHeld] = record(uniform)
  const [mixedStep, mixedHeld] = record(mixed)
  t.ok(uniformHeld + 4 * 80_000 <= mixedHeld, `${uniformHeld} bytes held against ${mixedHeld}`)
  const rows = new PartRows()
  for (const [step, timers] of [[uniformStep, uniform], [mixedStep, mixed], [uniformStep, uniform]] as const) {
    if (step.kind !== 'part') throw new Error('not a part')
    // The same rows each time: a replay writes the ids into memory they reuse.
    t.strictSame(step.part.toPart(rows).timers.entries(), timers.entries())
  }
})
