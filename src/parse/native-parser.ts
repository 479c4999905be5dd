import { nativeFunctions } from '../core/native-addon'
import { hashKeyBytes } from './key-hash'
import type { PacketParser, ParseSink } from './packet-parser'

/*
 * The addon's line fast path (native/statsd_parse.c) in front of the
 * JavaScript parser: C reads the common `key:value|type[|@rate]` lines and
 * interns their keys by raw bytes into ids; every other line comes back as
 * it is, in order, for the JavaScript parser. So the sink sees the same
 * calls in the same order either way (test/native-parser.test.ts checks it).
 *
 * The addon writes records into typed arrays handed over once:
 *   ops[3r]      kind | id << 3
 *   ops[3r + 1]  line start (key start for a new key)
 *   ops[3r + 2]  line end   (key end for a new key)
 *   vals[2r]     value      vals[2r + 1]  sample rate
 */

type KeyTable = { readonly __brand: 'statsd_parse key table' }

interface Addon {
  createKeyTable(ops: Int32Array, vals: Float64Array, state: Int32Array): KeyTable
  parseLines(table: KeyTable, buf: Buffer, pos: number, ends: Int32Array, index: number, count: number): number
  clearKeyTable(table: KeyTable): void
}

const enum Record {
  Counter,
  Timer,
  Gauge,
  GaugeDelta,
  NewKey,
  SlowLine,
}
const KIND_BITS = 3
const KIND_MASK = (1 << KIND_BITS) - 1

/** Records per addon call: a 64 KiB stream read of short lines fits in one. */
const RECORDS = 8192

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
}

/** Parses packets for one sink through the addon; `fallback` (for the same sink) reads the lines it leaves. */
export class NativePacketParser<K> {
  private readonly ops = new Int32Array(3 * RECORDS)
  private readonly vals = new Float64Array(2 * RECORDS)
  // The addon keeps pointers into these: each is over 64 bytes, so V8 keeps
  // it off its heap, where a garbage collection never moves it.
  private readonly state = new Int32Array(32)
  /** The end of a lone packet (parse()), for the addon's list of packet ends. */
  private readonly lone = new Int32Array(32)
  private readonly table: KeyTable
  /** What each id resolved to, by id (undefined: not yet). */
  private keys: (K | null | undefined)[] = []

  constructor(
    private readonly addon: Addon,
    private readonly sink: CountingSink<K>,
    private readonly fallback: PacketParser<K>,
  ) {
    this.table = addon.createKeyTable(this.ops, this.vals, this.state)
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
    while (index < count) {
      const records = this.addon.parseLines(this.table, buf, pos, ends, index, count)
      this.deliver(buf, records)
      pos = this.state[0]!
      index = this.state[1]!
    }
  }

  /** Forgets every key id: the sink's entries may have gone (always safe; costs one resolve per key after). */
  clear(): void {
    this.addon.clearKeyTable(this.table)
    this.keys = []
  }

  private deliver(buf: Buffer, records: number): void {
    const { ops, vals, sink, keys } = this
    // A new key's record comes just before its line's: resolved after onLine, as the JavaScript parser does.
    let keyStart = 0
    let keyEnd = 0
    let lines = 0
    for (let r = 0; r < records; r++) {
      const op = ops[3 * r]!
      const kind = op & KIND_MASK
      if (kind >= Record.NewKey) {
        const start = ops[3 * r + 1]!
        const end = ops[3 * r + 2]!
        if (kind === Record.NewKey) {
          keyStart = start
          keyEnd = end
        } else {
          this.fallback.parse(buf, start, end)
        }
        continue
      }
      const id = op >>> KIND_BITS
      let key = keys[id]
      if (key === undefined || key === null) {
        // This line is counted before its key is resolved or refused.
        sink.onLines(lines + 1)
        lines = 0
        if (key === undefined) {
          key = sink.resolveKey(buf, keyStart, keyEnd, keyEnd, keyEnd, hashKeyBytes(buf, keyStart, keyEnd, keyEnd, keyEnd))
          keys[id] = key
        }
        if (key === null) {
          sink.onBadLine(buf, ops[3 * r + 1]!, ops[3 * r + 2]!, 'empty key')
          continue
        }
      } else {
        lines++
      }
      const value = vals[2 * r]!
      if (kind === Record.Counter) sink.onCounter(key, value, vals[2 * r + 1]!)
      else if (kind === Record.Timer) sink.onTimer(key, value, vals[2 * r + 1]!)
      else sink.onGauge(key, value, kind === Record.GaugeDelta)
    }
    sink.onLines(lines)
  }
}
