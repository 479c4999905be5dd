import { KeyHash, finishHash, mixWord } from './key-hash'
import { EXACT_POW10, MAX_FAST_DIGITS, isAsciiSpace, parseDecimal } from './number'
import { wordOffset, wordView } from './word-view'

/*
 * Splits a packet into StatsD lines and values without building strings, in
 * one forward scan per packet, following Etsy statsd 0.9's reading of the
 * protocol:
 *
 *   line   = key ":" value { ":" value } [ "|#" tag { "," tag } ]
 *   value  = number "|" type [ "|@" rate ]      (any further "|..." is ignored)
 *
 * Each value is reported to the sink on its own; a bad value is a bad line
 * for statsd.bad_lines_seen (as in Etsy) but never spoils its good neighbours.
 *
 * The scan reads the key 4 bytes at a time (./word-view) and hashes it a
 * word per read, reads the usual type fields ("c", "ms", ...) and plain
 * decimal values directly (anything unusual goes to readType and
 * parseDecimal, which give the same results), and holds a line's values
 * until the line ends: the DogStatsD tags that complete the key come after
 * them. The last (usually the only) value of a line stays in local
 * variables; earlier ones wait in a small table.
 */

export const enum MetricType {
  Counter,
  Timer,
  Gauge,
  Set,
}

export type BadLineReason =
  | 'no value'
  | 'no type'
  | 'unknown type'
  | 'bad value'
  | 'negative timer'
  | 'bad sample rate'
  | 'empty key'

/** Receives what the parser finds; `K` is whatever the sink interns keys as. */
export interface ParseSink<K> {
  /** A non-empty line was seen (statsd.metrics_received). */
  onLine(buf: Buffer, start: number, end: number): void
  /** One bad value (or a line with no value at all). */
  onBadLine(buf: Buffer, lineStart: number, lineEnd: number, reason: BadLineReason): void
  /**
   * Intern a key; null when it sanitises to nothing. Called once per line,
   * lazily. `hash` is hashKeyBytes() of the same ranges (./key-hash).
   */
  resolveKey(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number, hash: number): K | null
  onCounter(key: K, value: number, sampleRate: number): void
  onTimer(key: K, value: number, sampleRate: number): void
  onGauge(key: K, value: number, isDelta: boolean): void
  onSet(key: K, buf: Buffer, valueStart: number, valueEnd: number): void
}

const NEWLINE = 10
const CARRIAGE_RETURN = 13
const COLON = 58
const PIPE = 124
const HASH = 35
const AT = 64
const PLUS = 43
const MINUS = 45
const DOT = 46

/** What a pending value turned out to be: a MetricType (0..3) or a bad-line reason. */
const BAD_REASONS: readonly BadLineReason[] = [
  'no type',
  'unknown type',
  'bad value',
  'negative timer',
  'bad sample rate',
]
const BAD = 4 // outcome BAD + k is BAD_REASONS[k]
const NO_TYPE = BAD
const UNKNOWN_TYPE = BAD + 1
const BAD_VALUE = BAD + 2
const NEGATIVE_TIMER = BAD + 3
const BAD_SAMPLE_RATE = BAD + 4

const INITIAL_PENDING = 16

/** The usual type fields, by their first byte ("m" for "ms"); -1 for anything else. */
const TYPE_BY_FIRST_BYTE = new Int8Array(256).fill(-1)
TYPE_BY_FIRST_BYTE[99] = MetricType.Counter // c
TYPE_BY_FIRST_BYTE[109] = MetricType.Timer // m(s)
TYPE_BY_FIRST_BYTE[103] = MetricType.Gauge // g
TYPE_BY_FIRST_BYTE[115] = MetricType.Set // s
TYPE_BY_FIRST_BYTE[104] = MetricType.Timer // h
TYPE_BY_FIRST_BYTE[100] = MetricType.Timer // d

// Each byte of a word, XORed with one of these, is 0 where the byte is ":", newline or "|".
const COLONS = 0x3a3a3a3a
const NEWLINES = 0x0a0a0a0a
const PIPES = 0x7c7c7c7c
const ONES = 0x01010101
const HIGH_BITS = 0x80808080 | 0

/** Reusable parser: one per sink. Not re-entrant (its tables hold the line being read). */
export class PacketParser<K> {
  // The values of the current line but its last, delivered when its end (and so its tags) is known.
  private outcomes = new Uint8Array(INITIAL_PENDING)
  private values = new Float64Array(INITIAL_PENDING)
  /** Sample rate (counters, timers), 1 for a gauge delta, or the set value's start. */
  private extras = new Float64Array(INITIAL_PENDING)
  /** End of the value field (sets). */
  private valueEnds = new Int32Array(INITIAL_PENDING)
  private pending = 0
  /** The key hash so far, from scanKeyBytes. */
  private scannedHash = 0

  constructor(private readonly sink: ParseSink<K>) {}

  /** Parses buf[start, end) as one packet. */
  parse(buf: Buffer, start = 0, end = buf.length): void {
    const view = wordView(buf)
    const base = wordOffset(buf)
    let i = start
    while (i < end) i = this.parseLine(buf, view, base, i, end)
  }

  /** Reads the line starting at lineStart; returns where the next one starts. */
  private parseLine(buf: Buffer, view: DataView<ArrayBufferLike>, base: number, lineStart: number, end: number): number {
    // ---- the key, up to the first ":" (or the line's end, or "|#": no value), 4 bytes
    // per read while a word has no ":", newline or "|" in it, hashed a word at a time
    let h: number = KeyHash.Seed
    let c = -1
    // Positions in the view, so that the loop adds nothing to them.
    let at = base + lineStart
    const lastWord = base + end - 4
    let w = 0
    let found = 0
    while (at <= lastWord) {
      w = view.getInt32(at, true)
      const colons = w ^ COLONS
      const newlines = w ^ NEWLINES
      const pipes = w ^ PIPES
      // A byte of the result has its high bit set for each zero byte of x in (x - ONES) & ~x,
      // exactly so up to the first zero byte (borrows can mark bytes after it).
      found = (((colons - ONES) & ~colons) | ((newlines - ONES) & ~newlines) | ((pipes - ONES) & ~pipes)) & HIGH_BITS
      if (found !== 0) break
      h = Math.imul(h ^ w, KeyHash.Multiplier)
      h ^= h >>> 15
      at += 4
    }
    let i = at - base
    const before = (31 - Math.clz32(found ^ (found - 1))) >>> 3 // bytes before the first separator
    if (found !== 0) c = buf[i + before]!
    if (found === 0 || (c === PIPE && !(i + before + 1 < end && buf[i + before + 1] === HASH))) {
      // The packet's last bytes, or a "|" inside the key (rare): the plain way.
      i = this.scanKeyBytes(buf, i, end, h)
      h = this.scannedHash
    } else {
      if (before > 0) h = mixWord(h, w & ((1 << (before << 3)) - 1))
      i += before
    }
    if (i === end) return this.lineWithoutValue(buf, lineStart, i, end)
    c = buf[i]!
    if (c !== COLON) return this.lineWithoutValue(buf, lineStart, i, end)
    const keyEnd = i
    i++

    // ---- the values: "value|type[|@rate][|...]" separated by ":", up to "|#" or the line's end.
    // The last (usually only) one stays in these locals; earlier ones go to the pending table.
    this.pending = 0
    let outcome = 0
    let value = 0
    let extra = 0
    let valueEnd = 0
    for (;;) {
      const valueStart = i
      // The value field, read as a plain decimal while it looks like one.
      let negative = false
      if (i < end) {
        c = buf[i]!
        if (c === MINUS) {
          negative = true
          i++
        } else if (c === PLUS) {
          i++
        }
      }
      let mantissa = 0
      let digits = 0
      let dotAt = -1
      c = -1
      while (i < end) {
        c = buf[i]!
        const d = c - 48
        if (d >= 0 && d <= 9) {
          mantissa = mantissa * 10 + d
          digits++
        } else if (c === DOT && dotAt < 0) {
          dotAt = digits
        } else {
          break
        }
        i++
      }
      if (i === end) c = -1
      const plain = c === PIPE && digits > 0 && digits <= MAX_FAST_DIGITS
      if (!plain) {
        // Anything else in the field: find its end the plain way.
        i = separatorAt(buf, i, end)
        c = i < end ? buf[i]! : -1
      }
      if (c !== PIPE || (i + 1 < end && buf[i + 1] === HASH)) {
        outcome = NO_TYPE
      } else {
        valueEnd = i
        i++
        // The type: "c", "ms", "g", ... followed by a separator, or else read the plain way.
        let type: number = i < end ? TYPE_BY_FIRST_BYTE[buf[i]!]! : -1
        let typeEnd = i + 1
        if (type === MetricType.Timer && buf[i] === 109) type = typeEnd < end && buf[typeEnd++] === 115 ? type : -1 // "ms"
        c = typeEnd < end ? buf[typeEnd]! : -1
        if (type >= 0 && (c === PIPE || c === NEWLINE || c === COLON || c === -1)) {
          i = typeEnd
        } else {
          const typeStart = i
          i = separatorAt(buf, i, end)
          c = i < end ? buf[i]! : -1
          type = readType(buf, typeStart, i)
        }
        outcome = -1
        let sampleRate = 1
        if (c === PIPE && !(i + 1 < end && buf[i + 1] === HASH)) {
          i++
          const rateStart = i
          i = separatorAt(buf, i, end)
          c = i < end ? buf[i]! : -1
          if (i - rateStart < 2 || buf[rateStart] !== AT) {
            outcome = BAD_SAMPLE_RATE
          } else {
            sampleRate = parseDecimal(buf, rateStart + 1, i)
            // Etsy crashes on "@+0.5", reads "@2e-1" as 2 and "@0" as Infinity: we take real rates in (0, 1].
            if (!(sampleRate > 0 && sampleRate <= 1)) outcome = BAD_SAMPLE_RATE
          }
          // Fields after the rate are ignored (as in Etsy).
          while (c === PIPE && !(i + 1 < end && buf[i + 1] === HASH)) {
            i = separatorAt(buf, i + 1, end)
            c = i < end ? buf[i]! : -1
          }
        }
        if (outcome >= 0) {
          // a bad sample rate, whatever the type
        } else if (type < 0) {
          outcome = UNKNOWN_TYPE
        } else if (type === MetricType.Set) {
          outcome = type
          extra = valueStart
        } else {
          if (plain) {
            const fractionDigits = dotAt < 0 ? 0 : digits - dotAt
            value = fractionDigits === 0 ? mantissa : mantissa / EXACT_POW10[fractionDigits]!
            if (negative) value = -value
          } else {
            value = parseDecimal(buf, valueStart, valueEnd)
          }
          outcome = type
          extra = sampleRate
          if (!Number.isFinite(value)) outcome = BAD_VALUE
          else if (type === MetricType.Timer && value < 0) outcome = NEGATIVE_TIMER
          else if (type === MetricType.Gauge) {
            const first = buf[valueStart]
            extra = valueStart < valueEnd && (first === PLUS || first === MINUS) ? 1 : 0
          }
        }
      }
      // Here c is the byte that ended the value: ":" (another value), "|" (of "|#"), newline or -1 (end).
      if (c !== COLON) break
      this.addPending(outcome, value, extra, valueEnd)
      i++
    }

    // ---- the DogStatsD tags, up to the next "|#" or the line's end (without a final "\r")
    let tagsStart = i
    let tagsEnd = i
    if (c === PIPE) {
      tagsStart = i + 2
      let th = mixWord(h, KeyHash.TagSeparator)
      let word = 0
      let shift = 0
      i = tagsStart
      while (i < end) {
        c = buf[i]!
        if (c === NEWLINE) break
        if (c === PIPE && i + 1 < end && buf[i + 1] === HASH) break
        if (c === CARRIAGE_RETURN && (i + 1 === end || buf[i + 1] === NEWLINE)) break
        word |= c << shift
        shift += 8
        if (shift === 32) {
          th = mixWord(th, word)
          word = shift = 0
        }
        i++
      }
      if (shift !== 0) th = mixWord(th, word)
      tagsEnd = i
      if (tagsEnd > tagsStart) h = th
    }
    let newline = i
    if (i < end && buf[i] !== NEWLINE) {
      newline = buf.indexOf(NEWLINE, i)
      if (newline < 0 || newline > end) newline = end
    }
    let lineEnd = newline
    if (buf[lineEnd - 1] === CARRIAGE_RETURN) lineEnd-- // there is a ":" before it
    if (tagsStart > lineEnd) tagsStart = tagsEnd = lineEnd

    const hash = finishHash(h)
    this.sink.onLine(buf, lineStart, lineEnd)
    // Keys are interned lazily (undefined: not yet) so that lines with only bad values never create one.
    let key: K | null | undefined
    for (let n = 0; n < this.pending; n++) {
      key = this.deliver(buf, lineStart, lineEnd, keyEnd, tagsStart, tagsEnd, hash, key, this.outcomes[n]!, this.values[n]!, this.extras[n]!, this.valueEnds[n]!)
    }
    this.deliver(buf, lineStart, lineEnd, keyEnd, tagsStart, tagsEnd, hash, key, outcome, value, extra, valueEnd)
    return newline + 1
  }

  /**
   * The key scan one byte at a time from i (a word boundary of the key), for
   * the last bytes of a packet and keys with a "|": returns where the key
   * ends, and leaves its hash so far in scannedHash, words as the fast scan makes them.
   */
  private scanKeyBytes(buf: Buffer, i: number, end: number, h: number): number {
    let word = 0
    let shift = 0
    while (i < end) {
      const c = buf[i]!
      if (c === COLON || c === NEWLINE || (c === PIPE && i + 1 < end && buf[i + 1] === HASH)) break
      word |= c << shift
      shift += 8
      if (shift === 32) {
        h = mixWord(h, word)
        word = shift = 0
      }
      i++
    }
    this.scannedHash = shift === 0 ? h : mixWord(h, word)
    return i
  }

  /** A line whose key part has no ":". */
  private lineWithoutValue(buf: Buffer, lineStart: number, from: number, end: number): number {
    let newline = buf.indexOf(NEWLINE, from)
    if (newline < 0 || newline > end) newline = end
    let lineEnd = newline
    // Accept CRLF line endings (telnet, Windows clients).
    if (lineEnd > lineStart && buf[lineEnd - 1] === CARRIAGE_RETURN) lineEnd--
    if (lineEnd > lineStart) {
      this.sink.onLine(buf, lineStart, lineEnd)
      this.sink.onBadLine(buf, lineStart, lineEnd, 'no value')
    }
    return newline + 1
  }

  private addPending(outcome: number, value: number, extra: number, valueEnd: number): void {
    if (this.pending === this.outcomes.length) this.growPending()
    const n = this.pending++
    this.outcomes[n] = outcome
    this.values[n] = value
    this.extras[n] = extra
    this.valueEnds[n] = valueEnd
  }

  /** Hands one value of a line to the sink; returns the line's key (undefined while not yet resolved). */
  private deliver(
    buf: Buffer,
    lineStart: number,
    lineEnd: number,
    keyEnd: number,
    tagsStart: number,
    tagsEnd: number,
    hash: number,
    key: K | null | undefined,
    outcome: number,
    value: number,
    extra: number,
    valueEnd: number,
  ): K | null | undefined {
    const sink = this.sink
    if (outcome >= BAD) {
      sink.onBadLine(buf, lineStart, lineEnd, BAD_REASONS[outcome - BAD]!)
      return key
    }
    if (key === undefined) key = sink.resolveKey(buf, lineStart, keyEnd, tagsStart, tagsEnd, hash)
    if (key === null) {
      sink.onBadLine(buf, lineStart, lineEnd, 'empty key')
      return key
    }
    switch (outcome) {
      case MetricType.Counter:
        sink.onCounter(key, value, extra)
        break
      case MetricType.Timer:
        sink.onTimer(key, value, extra)
        break
      case MetricType.Gauge:
        sink.onGauge(key, value, extra === 1)
        break
      default:
        sink.onSet(key, buf, extra, valueEnd)
    }
    return key
  }

  private growPending(): void {
    const capacity = this.outcomes.length * 2
    const grow = <A extends Uint8Array | Float64Array | Int32Array>(old: A, next: A): A => {
      next.set(old)
      return next
    }
    this.outcomes = grow(this.outcomes, new Uint8Array(capacity))
    this.values = grow(this.values, new Float64Array(capacity))
    this.extras = grow(this.extras, new Float64Array(capacity))
    this.valueEnds = grow(this.valueEnds, new Int32Array(capacity))
  }
}

/** Where the field starting at i ends: the first ":", "|" or newline, or end. */
function separatorAt(buf: Buffer, i: number, end: number): number {
  while (i < end) {
    const c = buf[i]!
    if (c === PIPE || c === COLON || c === NEWLINE) break
    i++
  }
  return i
}

/** Etsy trims the type field; "h" and "d" (DogStatsD histogram/distribution) are timers. */
export function readType(buf: Buffer, start: number, end: number): MetricType | -1 {
  while (start < end && isAsciiSpace(buf[start]!)) start++
  while (end > start && isAsciiSpace(buf[end - 1]!)) end--
  const length = end - start
  if (length === 1) {
    switch (buf[start]) {
      case 99: // c
        return MetricType.Counter
      case 103: // g
        return MetricType.Gauge
      case 115: // s
        return MetricType.Set
      case 104: // h
      case 100: // d
        return MetricType.Timer
    }
  } else if (length === 2 && buf[start] === 109 && buf[start + 1] === 115) {
    return MetricType.Timer // ms
  }
  return -1
}
