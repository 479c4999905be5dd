import { parseDecimal } from '../../src/parse/number'
import { hashKeyBytes } from '../../src/parse/key-hash'
import { type BadLineReason, MetricType, type ParseSink, eventLineKind, readType } from '../../src/parse/packet-parser'

/*
 * The packet parser as it was before the single-pass rewrite: several simple
 * scans per line, easy to check by eye. Tests run both on the same input and
 * require the same sink calls, digit for digit.
 */

const NEWLINE = 10
const CARRIAGE_RETURN = 13
const COLON = 58
const PIPE = 124
const HASH = 35
const AT = 64
const PLUS = 43
const MINUS = 45

/** Reusable parser: one per sink, holding the state of the line being read. */
export class ReferencePacketParser<K> {
  private buf: Buffer = Buffer.alloc(0)
  private lineStart = 0
  private keyEnd = 0
  private tagsStart = 0
  private tagsEnd = 0
  private key: K | null = null
  private keyResolved = false

  constructor(private readonly sink: ParseSink<K>) {}

  parse(buf: Buffer): void {
    const length = buf.length
    this.buf = buf
    let lineStart = 0
    while (lineStart < length) {
      let newline = buf.indexOf(NEWLINE, lineStart)
      if (newline < 0) newline = length
      let lineEnd = newline
      // Accept CRLF line endings (telnet, Windows clients).
      if (lineEnd > lineStart && buf[lineEnd - 1] === CARRIAGE_RETURN) lineEnd--
      if (lineEnd > lineStart) this.parseLine(lineStart, lineEnd)
      lineStart = newline + 1
    }
    this.buf = EMPTY // do not keep the packet alive
    this.key = null
  }

  private parseLine(lineStart: number, lineEnd: number): void {
    const buf = this.buf
    this.sink.onLine(buf, lineStart, lineEnd)
    this.lineStart = lineStart
    this.key = null
    this.keyResolved = false
    this.tagsStart = this.tagsEnd = lineEnd
    const kind = eventLineKind(buf, lineStart, lineEnd)
    if (kind !== -1) return this.sink.onEventLine(buf, lineStart, lineEnd, kind)

    // The key runs to the first ":"; a "|#" before it means there is no value.
    let colon = -1
    for (let i = lineStart; i < lineEnd && colon < 0; i++) {
      if (buf[i] === COLON) colon = i
      else if (buf[i] === PIPE && i + 1 < lineEnd && buf[i + 1] === HASH) break
    }
    if (colon < 0) {
      this.sink.onBadLine(buf, lineStart, lineEnd, 'no value')
      return
    }
    this.keyEnd = colon

    // Values "value|type[|@rate]" separated by ":" until a "|" starts the DogStatsD fields.
    const values: Value[] = []
    let i = colon + 1
    for (;;) {
      const value = this.readValue(i, lineEnd)
      values.push(value)
      i = value.end
      if (i < lineEnd && buf[i] === COLON) i++
      else break
    }

    // The fields, "|" separated, each to the next "|", any order; the last value takes their rate.
    let timestamp = -1
    let badFields = 0
    const last = values[values.length - 1]!
    let rateFirst = last.typed && !last.rated
    while (i < lineEnd && buf[i] === PIPE) {
      let stop = i + 1
      while (stop < lineEnd && buf[stop] !== PIPE) stop++
      const field = buf.toString('latin1', i + 1, stop)
      if (field.startsWith('#') && this.tagsStart === lineEnd) {
        this.tagsStart = i + 2
        this.tagsEnd = stop
      } else if (field.startsWith('@')) {
        const rate = field.length > 1 ? parseDecimal(buf, i + 2, stop) : NaN
        if (last.reason === null) {
          if (!(rate > 0 && rate <= 1)) last.reason = 'bad sample rate'
          else if (last.type === MetricType.Counter || last.type === MetricType.Timer) last.rate = rate
        }
      } else if (field.startsWith('T')) {
        timestamp = /^T\d{1,12}$/.test(field) && Number(field.slice(1)) > 0 ? Number(field.slice(1)) : -2
      } else if (/^(c:|e:|card:(none|low|orchestrator|high)$)/.test(field)) {
        // known, not used
      } else if (rateFirst && /^([0-9.]|$)/.test(field)) {
        if (last.reason === null) last.reason = 'bad sample rate'
      } else {
        badFields++
      }
      rateFirst = false
      i = stop
    }
    if (timestamp === -2) for (const v of values) if (v.reason === null) v.reason = 'bad timestamp'
    if (badFields > 0) this.sink.onBadFields(buf, lineStart, lineEnd, badFields)
    for (const v of values) {
      const reason = v.reason ?? this.deliver(v, timestamp)
      if (reason !== null) this.sink.onBadLine(buf, lineStart, lineEnd, reason)
    }
  }

  /** One `value|type[|@rate]` from start: where it ends (at ":", "|" or the line's end) and what it is. */
  private readValue(start: number, lineEnd: number): Value {
    const buf = this.buf
    const sep = (i: number): number => {
      while (i < lineEnd && buf[i] !== COLON && buf[i] !== PIPE) i++
      return i
    }
    const valueEnd = sep(start)
    const v: Value = { start, valueEnd, end: valueEnd, type: -1, typed: false, rated: false, rate: 1, reason: null }
    if (valueEnd >= lineEnd || buf[valueEnd] !== PIPE || buf[valueEnd + 1] === HASH) {
      v.reason = 'no type'
      return v
    }
    v.typed = true
    const typeEnd = sep(valueEnd + 1)
    v.type = readType(buf, valueEnd + 1, typeEnd)
    v.end = typeEnd
    if (typeEnd < lineEnd && buf[typeEnd] === PIPE && buf[typeEnd + 1] === AT) {
      v.rated = true
      v.end = sep(typeEnd + 1)
      const rate = v.end - typeEnd > 2 ? parseDecimal(buf, typeEnd + 2, v.end) : NaN
      if (!(rate > 0 && rate <= 1)) v.reason = 'bad sample rate'
      else v.rate = rate
    }
    if (v.reason !== null) return v
    if (v.type < 0) v.reason = 'unknown type'
    else if (v.type !== MetricType.Set) {
      const value = parseDecimal(buf, start, valueEnd)
      if (!Number.isFinite(value)) v.reason = 'bad value'
      else if (v.type === MetricType.Timer && value < 0) v.reason = 'negative timer'
    }
    return v
  }

  /** Hands a good value to the sink; returns why it is bad after all (an empty key), or null. */
  private deliver(v: Value, timestamp: number): BadLineReason | null {
    const buf = this.buf
    const key = this.resolveKey()
    if (key === null) return 'empty key'
    const { start, valueEnd } = v
    const delta = start < valueEnd && (buf[start] === PLUS || buf[start] === MINUS)
    if (timestamp > 0) {
      const type = v.type as MetricType
      if (type === MetricType.Set) this.sink.onTimestamped(key, type, 0, 0, timestamp)
      else this.sink.onTimestamped(key, type, parseDecimal(buf, start, valueEnd), type === MetricType.Gauge ? (delta ? 1 : 0) : v.rate, timestamp)
      return null
    }
    if (v.type === MetricType.Set) return this.sink.onSet(key, buf, start, valueEnd), null
    const value = parseDecimal(buf, start, valueEnd)
    if (v.type === MetricType.Counter) this.sink.onCounter(key, value, v.rate)
    else if (v.type === MetricType.Timer) this.sink.onTimer(key, value, v.rate, buf.toString('latin1', valueEnd + 1, v.end).trim()[0] !== 'm')
    else this.sink.onGauge(key, value, delta)
    return null
  }

  // Keys are interned lazily so that lines with only bad values never create one.
  private resolveKey(): K | null {
    if (!this.keyResolved) {
      const [buf, ks, ke, ts, te] = [this.buf, this.lineStart, this.keyEnd, this.tagsStart, this.tagsEnd]
      this.key = this.sink.resolveKey(buf, ks, ke, ts, te, hashKeyBytes(buf, ks, ke, ts, te))
      this.keyResolved = true
    }
    return this.key
  }
}

const EMPTY = Buffer.alloc(0)

interface Value {
  start: number
  valueEnd: number
  /** Where the value's fields end: ":" (another value), "|" (DogStatsD fields) or the line's end. */
  end: number
  type: MetricType | -1
  /** It has a type field; `rated`: and Etsy's "|@rate" right after it. */
  typed: boolean
  rated: boolean
  rate: number
  reason: BadLineReason | null
}
