import type { FlushCounter, FlushGauge, FlushPart, FlushSet } from './flush-data'
import type { TimerColumns } from './timer-columns'

/** A flush part's counters, gauges and sets as columns: names, and values by the same index. */
export interface PartColumns {
  counterNames: readonly string[]
  counterValues: Float64Array
  counterRates: Float64Array
  gaugeNames: readonly string[]
  gaugeValues: Float64Array
  setNames: readonly string[]
  setCounts: Float64Array
}

/**
 * The row objects a part kept as columns is handed on in (a shard's part
 * on the main thread, a Graphite record's part on a retry), reused from
 * part to part: a part is only read while it is written, and an object per
 * counter and gauge per flush doubled the young collections at 100k keys.
 */
export class PartRows {
  private readonly counters: FlushCounter[] = []
  private readonly gauges: FlushGauge[] = []
  private readonly sets: FlushSet[] = []

  /** `columns` and `timers` as a part, in these rows (valid until their next use). */
  part(columns: PartColumns, timers: TimerColumns): FlushPart {
    const { counterNames, counterValues, counterRates, gaugeNames, gaugeValues, setNames, setCounts } = columns
    const counters = fill(this.counters, counterNames.length, () => ({ name: '', value: 0, rate: 0 }), (c, i) => {
      c.name = counterNames[i]!
      c.value = counterValues[i]!
      c.rate = counterRates[i]!
    })
    const gauges = fill(this.gauges, gaugeNames.length, () => ({ name: '', value: 0 }), (g, i) => {
      g.name = gaugeNames[i]!
      g.value = gaugeValues[i]!
    })
    const sets = fill(this.sets, setNames.length, () => ({ name: '', count: 0 }), (r, i) => {
      r.name = setNames[i]!
      r.count = setCounts[i]!
    })
    return { counters, timers, gauges, sets }
  }
}

/** `rows` made `n` long, each row set by `set`; new rows by `make`. */
function fill<T>(rows: T[], n: number, make: () => T, set: (row: T, i: number) => void): T[] {
  while (rows.length < n) rows.push(make())
  rows.length = n
  for (let i = 0; i < n; i++) set(rows[i]!, i)
  return rows
}
