import { Fnv, finishHash } from './key-hash'
import { EXACT_POW10, MAX_FAST_DIGITS, isAsciiSpace, parseDecimal } from './number'

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
 * The scan hashes the key bytes as it passes them, reads plain decimal values
 * digit by digit (anything unusual goes to parseDecimal, which gives the
 * same digits), and keeps each value of a line in a small table until the
 * line ends: the DogStatsD tags that complete the key come after the values.
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

/** Reusable parser: one per sink. Not re-entrant (its tables hold the line being read). */
export class PacketParser<K> {
  // The values of the current line, delivered when its end (and so its tags) is known.
  private outcomes = new Uint8Array(INITIAL_PENDING)
  private values = new Float64Array(INITIAL_PENDING)
  /** Sample rate (counters, timers), 1 for a gauge delta, or the set value's start. */
  private extras = new Float64Array(INITIAL_PENDING)
  /** End of the value field (sets). */
  private valueEnds = new Int32Array(INITIAL_PENDING)
  private pending = 0

  constructor(private readonly sink: ParseSink<K>) {}

  /** Parses buf[start, end) as one packet. */
  parse(buf: Buffer, start = 0, end = buf.length): void {
    let i = start
    while (i < end) i = this.parseLine(buf, i, end)
  }

  /** Reads the line starting at lineStart; returns where the next one starts. */
  private parseLine(buf: Buffer, lineStart: number, end: number): number {
    // ---- the key, hashed on the way, up to the first ":" (or the line's end, or "|#": no value)
    let h = Fnv.Offset
    let i = lineStart
    let c = -1
    while (i < end) {
      c = buf[i]!
      if (c === COLON || c === NEWLINE || (c === PIPE && i + 1 < end && buf[i + 1] === HASH)) break
      h = Math.imul(h ^ c, Fnv.Prime)
      i++
    }
    if (i === end || c !== COLON) return this.lineWithoutValue(buf, lineStart, i, end)
    const keyEnd = i
    i++

    // ---- the values: "value|type[|@rate][|...]" separated by ":", up to "|#" or the line's end
    this.pending = 0
    let metricEnded = false
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
      // Anything else in the field: find its end the plain way.
      i = separatorAt(buf, i, end)
      c = i < end ? buf[i]! : -1
      if (c !== PIPE || (i + 1 < end && buf[i + 1] === HASH)) {
        this.addPending(NO_TYPE, 0, 0, 0)
      } else {
        const valueEnd = i
        i++
        const typeStart = i
        i = separatorAt(buf, i, end)
        c = i < end ? buf[i]! : -1
        const typeEnd = i
        let outcome: number = -1
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
            i++
            c = -1
            i = separatorAt(buf, i, end)
            c = i < end ? buf[i]! : -1
          }
        }
        if (outcome < 0) outcome = readType(buf, typeStart, typeEnd)
        if (outcome < 0) {
          this.addPending(UNKNOWN_TYPE, 0, 0, 0)
        } else if (outcome === MetricType.Set) {
          this.addPending(outcome, 0, valueStart, valueEnd)
        } else if (outcome >= BAD) {
          this.addPending(outcome, 0, 0, 0)
        } else {
          let value: number
          if (plain) {
            const fractionDigits = dotAt < 0 ? 0 : digits - dotAt
            value = fractionDigits === 0 ? mantissa : mantissa / EXACT_POW10[fractionDigits]!
            if (negative) value = -value
          } else {
            value = parseDecimal(buf, valueStart, valueEnd)
          }
          if (!Number.isFinite(value)) outcome = BAD_VALUE
          else if (outcome === MetricType.Timer && value < 0) outcome = NEGATIVE_TIMER
          else if (outcome === MetricType.Gauge) {
            const first = buf[valueStart]
            sampleRate = valueStart < valueEnd && (first === PLUS || first === MINUS) ? 1 : 0
          }
          this.addPending(outcome, value, sampleRate, 0)
        }
      }
      // Here c is the byte that ended the value: ":" (another value), "|" (of "|#"), newline or -1 (end).
      if (c !== COLON) {
        metricEnded = c === PIPE
        break
      }
      i++
    }

    // ---- the DogStatsD tags, up to the next "|#" or the line's end (without a final "\r")
    let tagsStart = i
    let tagsEnd = i
    if (metricEnded) {
      tagsStart = i + 2
      let th = Math.imul(h ^ Fnv.TagSeparator, Fnv.Prime)
      i = tagsStart
      while (i < end) {
        c = buf[i]!
        if (c === NEWLINE) break
        if (c === PIPE && i + 1 < end && buf[i + 1] === HASH) break
        if (c === CARRIAGE_RETURN && (i + 1 === end || buf[i + 1] === NEWLINE)) break
        th = Math.imul(th ^ c, Fnv.Prime)
        i++
      }
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
    this.deliver(buf, lineStart, lineEnd, keyEnd, tagsStart, tagsEnd, finishHash(h))
    return newline + 1
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

  private deliver(
    buf: Buffer,
    lineStart: number,
    lineEnd: number,
    keyEnd: number,
    tagsStart: number,
    tagsEnd: number,
    hash: number,
  ): void {
    const sink = this.sink
    sink.onLine(buf, lineStart, lineEnd)
    // Keys are interned lazily so that lines with only bad values never create one.
    let key: K | null = null
    let resolved = false
    for (let n = 0; n < this.pending; n++) {
      const outcome = this.outcomes[n]!
      if (outcome >= BAD) {
        sink.onBadLine(buf, lineStart, lineEnd, BAD_REASONS[outcome - BAD]!)
        continue
      }
      if (!resolved) {
        key = sink.resolveKey(buf, lineStart, keyEnd, tagsStart, tagsEnd, hash)
        resolved = true
      }
      if (key === null) {
        sink.onBadLine(buf, lineStart, lineEnd, 'empty key')
        continue
      }
      switch (outcome) {
        case MetricType.Counter:
          sink.onCounter(key, this.values[n]!, this.extras[n]!)
          break
        case MetricType.Timer:
          sink.onTimer(key, this.values[n]!, this.extras[n]!)
          break
        case MetricType.Gauge:
          sink.onGauge(key, this.values[n]!, this.extras[n] === 1)
          break
        default:
          sink.onSet(key, buf, this.extras[n]!, this.valueEnds[n]!)
      }
    }
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
