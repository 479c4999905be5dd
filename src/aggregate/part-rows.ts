import type { FlushCounter, FlushGauge, FlushPart, FlushSet } from './flush-data'
import { NameBytes } from './name-bytes'
import type { TimerColumns } from './timer-columns'

/** A flush part's counters, gauges and sets as columns: names, and values by the same index. */
export interface PartColumns<Names = readonly string[]> {
  counterNames: Names
  counterValues: Float64Array
  counterRates: Float64Array
  gaugeNames: Names
  gaugeValues: Float64Array
  setNames: Names
  setCounts: Float64Array
}

/** Columns whose names are bytes (a shard's part: name-bytes.ts). */
export type ByteNamedColumns = PartColumns<NameBytes>

/**
 * The row objects a part kept as columns is handed on in (a shard's part
 * on the main thread, a Graphite record's part on a retry), reused from
 * part to part: a part is only read while it is written, and an object per
 * counter and gauge per flush doubled the young collections at 100k keys.
 */
export class PartRows {
  private readonly counters = new Rows<FlushCounter>()
  private readonly gauges = new Rows<FlushGauge>()
  private readonly sets = new Rows<FlushSet>()
  private readonly byteNamed = { counters: new Rows<NamedCounter>(), gauges: new Rows<NamedGauge>(), sets: new Rows<NamedSet>() }
  private ids = new Int32Array(0)

  /** `run` once per timer, `timers` times over (valid until the next call): a recorded part's statistic ids. */
  repeated(run: Int32Array, timers: number): Int32Array {
    const n = run.length * timers
    if (this.ids.length < n) this.ids = new Int32Array(Math.max(n, 2 * this.ids.length))
    const ids = this.ids
    for (let t = 0, at = 0; t < timers; t++) for (let i = 0; i < run.length; i++) ids[at++] = run[i]!
    return ids
  }

  /** `columns` and `timers` as a part, in these rows (valid until their next use). */
  part(columns: PartColumns | ByteNamedColumns, timers: TimerColumns): FlushPart {
    if (byteNamed(columns)) return this.byteNamedPart(columns, timers)
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

  /** Rows whose names are made from the bytes when read; the bytes go with the part (FlushPart.names). */
  private byteNamedPart(columns: ByteNamedColumns, timers: TimerColumns): FlushPart {
    const { counterNames, counterValues, counterRates, gaugeNames, gaugeValues, setNames, setCounts } = columns
    const rows = this.byteNamed
    const counters = fill(rows.counters, counterNames.count, () => new NamedCounter(), (c, i) => {
      c.at(counterNames, i)
      c.value = counterValues[i]!
      c.rate = counterRates[i]!
    })
    const gauges = fill(rows.gauges, gaugeNames.count, () => new NamedGauge(), (g, i) => {
      g.at(gaugeNames, i)
      g.value = gaugeValues[i]!
    })
    const sets = fill(rows.sets, setNames.count, () => new NamedSet(), (r, i) => {
      r.at(setNames, i)
      r.count = setCounts[i]!
    })
    return { counters, timers, gauges, sets, names: { counters: counterNames, gauges: gaugeNames, sets: setNames } }
  }
}

function byteNamed(columns: PartColumns | ByteNamedColumns): columns is ByteNamedColumns {
  return columns.counterNames instanceof NameBytes
}

/** A row whose name is name i of some NameBytes, made into a string when read. */
class NamedRow {
  private names: NameBytes | null = null
  private i = 0
  /** Set by a receiver (none does today): kept instead. */
  private given: string | null = null

  at(names: NameBytes, i: number): void {
    this.names = names
    this.i = i
    this.given = null
  }

  get name(): string {
    return this.given ?? this.names!.name(this.i)
  }

  set name(name: string) {
    this.given = name
  }
}

class NamedCounter extends NamedRow implements FlushCounter {
  value = 0
  rate = 0
}
class NamedGauge extends NamedRow implements FlushGauge {
  value = 0
}
class NamedSet extends NamedRow implements FlushSet {
  count = 0
}

/**
 * The rows handed out, and every row ever made: a part with fewer rows than
 * the one before must not drop the rest, or the next larger part makes them
 * anew (a shard's parts differ in size: counters, timers and gauges share a
 * part's work).
 */
class Rows<T> {
  readonly made: T[] = []
  readonly out: T[] = []
}

/** `rows.out` made `n` long, each row set by `set`; new rows by `make`. */
function fill<T>(rows: Rows<T>, n: number, make: () => T, set: (row: T, i: number) => void): T[] {
  const { made, out } = rows
  while (made.length < n) made.push(make())
  out.length = n
  for (let i = 0; i < n; i++) {
    const row = made[i]!
    set(row, i)
    out[i] = row
  }
  return out
}
