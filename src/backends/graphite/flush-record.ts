import type { FlushHeader, FlushPart, FlushTrailer } from '../../aggregate/flush-data'
import type { ByteNamedColumns, PartColumns, PartRows } from '../../aggregate/part-rows'
import type { NameBytes } from '../../aggregate/name-bytes'
import { TimerColumns } from '../../aggregate/timer-columns'
import { uncountedMemory } from '../../core/uncounted-memory'
import { ReusePool } from '../reuse-pool'

/*
 * A flush as the Graphite backend holds it until Graphite has it: the
 * numbers in typed columns (8 bytes per timer statistic, 12 in a part
 * whose timers' statistics differ, and 24 per counter), the names shared
 * with the key table (with workers > 1, a copy of the shard's name bytes in
 * the columns), instead of its text (about 55 bytes
 * a line: 100k timers × 14 statistics were 81 MB). Each delivery attempt
 * writes the lines again from it as the socket takes them, so a retry
 * sends exactly the same lines.
 *
 * The columns are cut from blocks of shared memory that go back to a pool
 * once the outbox is done with the flush, so a steady flush allocates
 * none: as ordinary typed arrays, 17 MB of them per flush of 100k timers
 * counted as external memory and set off whole-heap collections that
 * could free nothing else.
 *
 * Which statistic each timer value is (an id per value) is kept only once
 * per part when every timer of the part has the same statistics in the
 * same order, as they have but for a histogram or a statistic that was not
 * finite: a third of the record otherwise (at 100k timers, 5.6 MB of its
 * 20), resident until Graphite has it and then in the pool. A replay
 * writes them out again, into memory its PartRows reuse.
 */

/** Size of the blocks columns are cut from; a column larger than this gets memory of its own. */
export const BLOCK_BYTES = 256 * 1024
/** Blocks given back by records the outbox is done with, for the next ones (ReusePool). */
export class BlockPool extends ReusePool<SharedArrayBuffer> {
  constructor() {
    super(() => uncountedMemory(BLOCK_BYTES))
  }

  /** A record is done with `blocks`. */
  give(blocks: readonly SharedArrayBuffer[]): void {
    this.demanded(blocks.length)
    for (const block of blocks) this.put(block)
  }
}

/** One record's columns, cut one after the other from the pool's blocks. */
export class Columns {
  private readonly blocks: SharedArrayBuffer[] = []
  private offset = 0
  private released = false
  /** Bytes of memory taken: whole blocks, and columns too large for one. */
  held = 0

  constructor(private readonly pool: BlockPool) {}

  /** `pick` of each row, in a column (no array in between). */
  f64Of<T>(rows: readonly T[], pick: (row: T) => number): Float64Array {
    const [memory, at] = this.memory(rows.length * 8)
    const out = new Float64Array(memory, at, rows.length)
    for (let i = 0; i < rows.length; i++) out[i] = pick(rows[i]!)
    return out
  }

  f64(values: ArrayLike<number>, n = values.length): Float64Array {
    const [memory, at] = this.memory(n * 8)
    const out = new Float64Array(memory, at, n)
    for (let i = 0; i < n; i++) out[i] = values[i]!
    return out
  }

  i32(values: ArrayLike<number>, n = values.length): Int32Array {
    const [memory, at] = this.memory(n * 4)
    const out = new Int32Array(memory, at, n)
    for (let i = 0; i < n; i++) out[i] = values[i]!
    return out
  }

  /**
   * A copy of `names`. A shard's names come in memory of their own for each
   * part, from its thread's malloc arena, memory V8 does not count
   * (uncountedMemory): kept by the record, it outlived the young
   * collections and stayed until the main thread's next full one, several
   * flushes later. Copied, it goes at once, and the copy is reused blocks.
   */
  names(names: NameBytes): NameBytes {
    const count = names.ends.length
    const [memory, at] = this.memory(count * 4 + names.bytes.length)
    const ends = new Int32Array(memory, at, count)
    const bytes = new Uint8Array(memory, at + count * 4, names.bytes.length)
    ends.set(names.ends)
    bytes.set(names.bytes)
    return names.copiedTo(bytes, ends)
  }

  /** The outbox is done with the record: its blocks go back to the pool (later columns get memory of their own). */
  release(): void {
    if (this.released) return
    this.released = true
    this.pool.give(this.blocks)
  }

  /** Memory for `bytes` more: a block and where in it. */
  private memory(bytes: number): [SharedArrayBuffer, number] {
    // 8-byte aligned, for the Float64Arrays.
    const size = (bytes + 7) & ~7
    if (this.released || size > BLOCK_BYTES) {
      this.held += size
      return [new SharedArrayBuffer(size), 0]
    }
    if (this.blocks.length === 0 || this.offset + size > BLOCK_BYTES) {
      this.blocks.push(this.pool.take())
      this.held += BLOCK_BYTES
      this.offset = 0
    }
    const at = this.offset
    this.offset += size
    return [this.blocks.at(-1)!, at]
  }
}

/** One call the flush loop made on the backend's writer, kept for replay. */
export type FlushStep =
  | { kind: 'header'; header: FlushHeader }
  | { kind: 'part'; part: RecordedPart }
  | { kind: 'end'; trailer: FlushTrailer; calculationTime: number }

/** Bytes a step holds besides its columns (objects, array headers): for the outbox's bound. */
const STEP_BYTES = 256
/** A reference in an array (no pointer compression in Node here). */
const REF = 8

/** A copy of one part of a flush (whose arrays the flush loop reuses), in columns. */
export class RecordedPart {
  private readonly columns: PartColumns | ByteNamedColumns
  private readonly timers: TimerColumns
  /** Every timer's statistics' ids, when they are the same for each (timers.ids is then one timer's); null otherwise. */
  private readonly run: Int32Array | null
  /** What it holds besides its columns (counted by Columns), roughly. */
  readonly bytes: number

  constructor(part: FlushPart, columns: Columns) {
    const { counters, timers, gauges, sets, names } = part
    const values = {
      counterValues: columns.f64Of(counters, (c) => c.value),
      counterRates: columns.f64Of(counters, (c) => c.rate),
      gaugeValues: columns.f64Of(gauges, (g) => g.value),
      setCounts: columns.f64Of(sets, (s) => s.count),
    }
    // A shard's names are bytes (name-bytes.ts): copied into the record's columns as they are, no string made.
    this.columns =
      names !== undefined
        ? { ...values, counterNames: columns.names(names.counters), gaugeNames: columns.names(names.gauges), setNames: columns.names(names.sets) }
        : { ...values, counterNames: counters.map((c) => c.name), gaugeNames: gauges.map((g) => g.name), setNames: sets.map((s) => s.name) }
    // Only what Graphite prints: names, statistics and values (no raw samples).
    const copy = new TimerColumns(timers.statNames, 0)
    if (timers.nameBytes !== null) copy.nameBytes = columns.names(timers.nameBytes)
    else copy.names = timers.names.slice()
    copy.histograms = timers.histograms.slice()
    copy.ends = timers.ends.slice()
    const run = uniformRun(timers)
    copy.ids = columns.i32(timers.ids, run ?? timers.length)
    this.run = run === null ? null : copy.ids
    copy.values = columns.f64(timers.values, timers.length)
    copy.length = timers.length
    this.timers = copy
    // Names as bytes are in the columns (counted there); as strings, a reference each.
    const nameRefs = (names === undefined ? counters.length + gauges.length + sets.length : 0) + (timers.nameBytes === null ? timers.count : 0)
    this.bytes = STEP_BYTES + nameRefs * REF + (timers.count * 2) * REF
  }

  /** The part again, as the formatters take it, in `rows` (valid until their next use). */
  toPart(rows: PartRows): FlushPart {
    if (this.run !== null) this.timers.ids = rows.repeated(this.run, this.timers.count)
    return rows.part(this.columns, this.timers)
  }
}

/** How many statistics each timer has, if every timer of `timers` has the same ones in the same order; null otherwise. */
function uniformRun(timers: TimerColumns): number | null {
  const n = timers.count
  if (n === 0) return null
  const each = timers.ends[0]!
  if (each === 0 || timers.length !== n * each) return null
  const ids = timers.ids
  for (let t = 1; t < n; t++) {
    const start = t * each
    if (timers.ends[t] !== start + each) return null
    for (let i = 0; i < each; i++) if (ids[start + i] !== ids[i]) return null
  }
  return each
}

export function headerStep(header: FlushHeader): [FlushStep, number] {
  return [{ kind: 'header', header: { timestamp: header.timestamp, flushIntervalMs: header.flushIntervalMs } }, STEP_BYTES]
}

/** The step, and the bytes it holds: the memory its columns took from `columns` (whole blocks), and its names. */
export function partStep(part: FlushPart, columns: Columns): [FlushStep, number] {
  const held = columns.held
  const recorded = new RecordedPart(part, columns)
  return [{ kind: 'part', part: recorded }, recorded.bytes + columns.held - held]
}

/** The trailer, with the time the flush took to compute fixed now, so that a retry prints the same number. */
export function endStep(trailer: FlushTrailer, calculationTime: number): [FlushStep, number] {
  const kept: FlushTrailer = { processingTime: trailer.processingTime, selfMetrics: trailer.selfMetrics.map((m) => ({ name: m.name, value: m.value })) }
  if (trailer.points !== undefined) kept.points = trailer.points
  return [{ kind: 'end', trailer: kept, calculationTime }, STEP_BYTES + kept.selfMetrics.length * 64 + (trailer.points?.length ?? 0) * 64]
}
