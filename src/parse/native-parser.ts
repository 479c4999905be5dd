import { nativeFunctions } from '../core/native-addon'
import { hashKeyBytes } from './key-hash'
import { MetricType, type PacketParser, type ParseSink } from './packet-parser'

/*
 * The addon's line fast path (native/statsd_parse.c) in front of the
 * JavaScript parser: C reads `key:value|type` lines of one plain decimal
 * value (not sets) with any DogStatsD fields after the type, in any order
 * (@rate, #tags, c:, e:, card:, T, unknown ones), and interns their keys by
 * raw bytes into ids; every other line comes back as it is, in order, for
 * the JavaScript parser. So the sink sees the same calls in the same order
 * either way (test/native-parser.test.ts and test/dogstatsd-fields.test.ts
 * check it).
 *
 * The addon writes records into typed arrays handed over once:
 *   ops[3r]      kind | id << 4
 *   ops[3r + 1]  line start (key start for a new key)
 *   ops[3r + 2]  line end   (key end for a new key)
 *   vals[2r]     value      vals[2r + 1]  sample rate  (a new key: its tags' start, end)
 * A line's unknown fields come as a record of their count (BadFields), and
 * a "T" timestamp as a record of its seconds (PointTime), before its
 * value's; if its SlowLine record comes instead (C could not take the key
 * after all), they are dropped: JavaScript reads the whole line.
 *
 * A sink that keeps its counters in one column of doubles (CounterColumn)
 * lets the addon add a counter line straight into its row, once the key's
 * id is bound to it, with no record and no call at all; the addon counts
 * those lines, and each key's share, for the sink.
 */

type KeyTable = { readonly __brand: 'statsd_parse key table' }

interface Addon {
  createKeyTable(ops: Int32Array, vals: Float64Array, state: Int32Array, binds: Int32Array): KeyTable
  parseLines(table: KeyTable, buf: Buffer, pos: number, ends: Int32Array, index: number, count: number, values: Float64Array | null): number
  clearKeyTable(table: KeyTable): void
  takeHits(table: KeyTable, out: Int32Array, from: number): number
}

/** Slots of the state array shared with the addon (STATE_* in native/statsd_parse.c). */
const enum State {
  Pos,
  Index,
  Summed,
  Binds,
  UnbindAll,
  NextId,
  /** 1: a line's "c:" field becomes a tag (containerIdTag), so the addon leaves such lines to JavaScript. */
  ContainerTag,
}

const enum Record {
  Counter,
  Timer,
  Gauge,
  GaugeDelta,
  /** A counter whose id has no row in the addon yet. */
  UnboundCounter,
  /** A timer that came as a DogStatsD histogram or distribution (`h`, `d`). */
  Histogram,
  NewKey,
  SlowLine,
  /** vals[2r] unknown fields on the line (ops: its start, end). */
  BadFields,
  /** The next record's value is a point at vals[2r] (Unix seconds). */
  PointTime,
}
const KIND_BITS = 4
const KIND_MASK = (1 << KIND_BITS) - 1

/** Records per addon call: a 64 KiB stream read of short lines fits in one. */
const RECORDS = 8192
/** (id, hits) pairs per takeHits call. */
const HIT_PAIRS = 4096

/** The addon's parser, or why there is none (the JavaScript parser then reads everything). */
export function nativeLineParsing(): { addon: Addon } | { unavailable: string } {
  return nativeFunctions<Addon>(['createKeyTable', 'parseLines', 'clearKeyTable'])
}

/**
 * A sink that can take fast lines as a count: the same as that many onLine
 * calls, for a sink that logs no line it is given (dumpMessages off).
 */
export interface CountingSink<K> extends ParseSink<K> {
  onLines(count: number): void
  /** Where the addon may add counter values itself; absent: every counter line comes through onCounter. */
  readonly counterColumn?: CounterColumn<K>
  /**
   * resolveKey for a key the addon interned: it keeps the answer by id
   * itself, so a sink that caches answers by raw bytes need not hold a
   * second copy (absent: resolveKey).
   */
  resolveInterned?(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number): K | null
}

/**
 * A sink's counters as one column of values by row. The addon adds a line
 * to a row exactly as onCounter would (value times the inverse rate,
 * refused through onCounter if not finite), for keys onCounter has given a
 * row.
 */
export interface CounterColumn<K> {
  /** The values by row; may be replaced (it grows), so it is read before every addon call. */
  readonly values: Float64Array
  /** Changes whenever rows move or are deleted: every row bound before is then forgotten. */
  readonly layout: number
  /** `key`'s row, -1 if it has no counter. */
  row(key: K): number
  /** `count` lines were added to `key` directly since the last call (onCounter counts its own). */
  addHits(key: K, count: number): void
}

/** Parses packets for one sink through the addon; `fallback` (for the same sink) reads the lines it leaves. */
export class NativePacketParser<K> {
  private readonly ops = new Int32Array(3 * RECORDS)
  private readonly vals = new Float64Array(2 * RECORDS)
  // The addon keeps pointers into these: each is over 64 bytes, so V8 keeps
  // it off its heap, where a garbage collection never moves it.
  private readonly state = new Int32Array(32)
  /** (id, row) pairs for the addon to bind at its next call; state[State.Binds] of them. */
  private readonly binds = new Int32Array(2 * RECORDS)
  private readonly hits = new Int32Array(2 * HIT_PAIRS)
  private readonly column: CounterColumn<K> | null
  /** The column's layout the addon's bound rows belong to. */
  private layout = -1
  /** The end of a lone packet (parse()), for the addon's list of packet ends. */
  private readonly lone = new Int32Array(32)
  private readonly table: KeyTable
  /** What each id resolved to, by id (undefined: not yet). */
  private keys: (K | null | undefined)[] = []
  /** Lines the addon handed to the JavaScript parser (for tests: which lines the fast path takes). */
  linesForJavaScript = 0

  constructor(
    private readonly addon: Addon,
    private readonly sink: CountingSink<K>,
    private readonly fallback: PacketParser<K>,
  ) {
    this.table = addon.createKeyTable(this.ops, this.vals, this.state, this.binds)
    this.column = sink.counterColumn ?? null
  }

  /** Parses buf[start, end) as one packet. */
  parse(buf: Buffer, start = 0, end = buf.length): void {
    this.lone[0] = end
    this.parsePackets(buf, start, this.lone, 1)
  }

  /** Parses `count` packets back to back from `start`: packet i ends at ends[i] (see DatagramBatch). */
  parsePackets(buf: Buffer, start: number, ends: Int32Array, count: number): void {
    let pos = start
    let index = 0
    const { column, state } = this
    while (index < count) {
      if (column !== null && column.layout !== this.layout) {
        // Rows have moved: forget them all, and the binds made for them.
        state[State.UnbindAll] = 1
        state[State.Binds] = 0
        this.layout = column.layout
      }
      state[State.ContainerTag] = this.fallback.containerIdTag ? 1 : 0
      const records = this.addon.parseLines(this.table, buf, pos, ends, index, count, column === null ? null : column.values)
      this.deliver(buf, records, state[State.Summed]!)
      pos = state[State.Pos]!
      index = state[State.Index]!
    }
  }

  /** Hands the sink each key's lines the addon added directly since the last time: before it reads them for a flush. */
  takeHits(): void {
    const { column, hits, keys } = this
    if (column === null) return
    for (let from = 0, pairs = HIT_PAIRS; pairs === HIT_PAIRS; from = this.state[State.NextId]!) {
      pairs = this.addon.takeHits(this.table, hits, from)
      for (let p = 0; p < pairs; p++) column.addHits(keys[hits[2 * p]!]!, hits[2 * p + 1]!)
    }
  }

  /** Forgets every key id: the sink's entries may have gone (always safe; costs one resolve per key after). */
  clear(): void {
    this.takeHits()
    this.addon.clearKeyTable(this.table)
    this.keys = []
  }

  /** Has the addon add `key`'s counter lines to its row from its next call on (out of deliver, which stays small for the JIT). */
  private bind(id: number, key: K): void {
    const row = this.column === null ? -1 : this.column.row(key)
    if (row < 0) return
    const b = this.state[State.Binds]!
    this.binds[2 * b] = id
    this.binds[2 * b + 1] = row
    this.state[State.Binds] = b + 1
  }

  /** A value of a line with a "T" field, as the JavaScript parser hands it over. */
  private point(key: K, kind: Record, value: number, rate: number, timestamp: number): void {
    if (kind === Record.Gauge || kind === Record.GaugeDelta) this.sink.onTimestamped(key, MetricType.Gauge, value, kind === Record.GaugeDelta ? 1 : 0, timestamp)
    else this.sink.onTimestamped(key, kind === Record.Timer || kind === Record.Histogram ? MetricType.Timer : MetricType.Counter, value, rate, timestamp)
  }

  /** Hands the sink `records` records, and `summed` lines the addon added itself. */
  private deliver(buf: Buffer, records: number, summed: number): void {
    const { ops, vals, sink, keys } = this
    // A new key's record comes just before its line's: resolved after onLine, as the JavaScript parser does.
    let keyStart = 0
    let keyEnd = 0
    let tagsStart = 0
    let tagsEnd = 0
    let lines = summed
    // The next value's line's fields: a timestamp (PointTime), -1 none, and its unknown fields (BadFields).
    // Held until the value comes: if a SlowLine comes instead, the line is JavaScript's, which reads them itself.
    let timestamp = -1
    let badFields = 0
    let badStart = 0
    let badEnd = 0
    for (let r = 0; r < records; r++) {
      const op = ops[3 * r]!
      const kind = op & KIND_MASK
      if (kind >= Record.NewKey) {
        const start = ops[3 * r + 1]!
        const end = ops[3 * r + 2]!
        if (kind === Record.NewKey) {
          keyStart = start
          keyEnd = end
          tagsStart = vals[2 * r]!
          tagsEnd = vals[2 * r + 1]!
        } else if (kind === Record.SlowLine) {
          this.linesForJavaScript++
          timestamp = -1
          badFields = 0
          this.fallback.parse(buf, start, end)
        } else if (kind === Record.BadFields) {
          badFields = vals[2 * r]!
          badStart = start
          badEnd = end
        } else {
          timestamp = vals[2 * r]!
        }
        continue
      }
      const id = op >>> KIND_BITS
      if (badFields !== 0) {
        sink.onBadFields(buf, badStart, badEnd, badFields)
        badFields = 0
      }
      let key = keys[id]
      if (key === undefined || key === null) {
        // This line is counted before its key is resolved or refused.
        sink.onLines(lines + 1)
        lines = 0
        if (key === undefined) {
          key =
            sink.resolveInterned !== undefined
              ? sink.resolveInterned(buf, keyStart, keyEnd, tagsStart, tagsEnd)
              : sink.resolveKey(buf, keyStart, keyEnd, tagsStart, tagsEnd, hashKeyBytes(buf, keyStart, keyEnd, tagsStart, tagsEnd))
          keys[id] = key
        }
        if (key === null) {
          sink.onBadLine(buf, ops[3 * r + 1]!, ops[3 * r + 2]!, 'empty key')
          timestamp = -1
          continue
        }
      } else {
        lines++
      }
      const value = vals[2 * r]!
      if (timestamp >= 0) {
        this.point(key, kind, value, vals[2 * r + 1]!, timestamp)
        timestamp = -1
      } else if (kind === Record.Counter || kind === Record.UnboundCounter) {
        sink.onCounter(key, value, vals[2 * r + 1]!)
        if (kind === Record.UnboundCounter) this.bind(id, key)
      } else if (kind === Record.Timer || kind === Record.Histogram) sink.onTimer(key, value, vals[2 * r + 1]!, kind === Record.Histogram)
      else sink.onGauge(key, value, kind === Record.GaugeDelta)
    }
    sink.onLines(lines)
  }
}
