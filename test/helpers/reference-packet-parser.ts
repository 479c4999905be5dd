import { parseDecimal } from '../../src/parse/number'
import { hashKeyBytes } from '../../src/parse/key-hash'
import { type BadLineReason, MetricType, type ParseSink, readType } from '../../src/parse/packet-parser'

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

    // The first "|#" ends the metric part; the tags run to the next "|#" (as Etsy's split).
    let colon = -1
    let metricEnd = lineEnd
    for (let i = lineStart; i < lineEnd; i++) {
      const c = buf[i]
      if (c === COLON) {
        if (colon < 0) colon = i
      } else if (c === PIPE && i + 1 < lineEnd && buf[i + 1] === HASH) {
        metricEnd = i
        break
      }
    }
    this.tagsStart = this.tagsEnd = metricEnd
    if (metricEnd < lineEnd) {
      this.tagsStart = metricEnd + 2
      this.tagsEnd = lineEnd
      for (let i = this.tagsStart; i + 1 < lineEnd; i++) {
        if (buf[i] === PIPE && buf[i + 1] === HASH) {
          this.tagsEnd = i
          break
        }
      }
    }
    if (colon < 0) {
      this.sink.onBadLine(buf, lineStart, lineEnd, 'no value')
      return
    }
    this.keyEnd = colon

    let valueStart = colon + 1
    while (valueStart <= metricEnd) {
      let valueEnd = valueStart
      while (valueEnd < metricEnd && buf[valueEnd] !== COLON) valueEnd++
      const reason = this.parseValue(valueStart, valueEnd)
      if (reason !== null) this.sink.onBadLine(buf, lineStart, lineEnd, reason)
      valueStart = valueEnd + 1
    }
  }

  /** One `value|type[|@rate]`; returns why it is bad, or null once delivered. */
  private parseValue(start: number, end: number): BadLineReason | null {
    const buf = this.buf
    let typeStart = start
    while (typeStart < end && buf[typeStart] !== PIPE) typeStart++
    if (typeStart === end) return 'no type'
    const valueEnd = typeStart
    typeStart++
    let typeEnd = typeStart
    while (typeEnd < end && buf[typeEnd] !== PIPE) typeEnd++

    let sampleRate = 1
    if (typeEnd < end) {
      const rateStart = typeEnd + 1
      let rateEnd = rateStart
      while (rateEnd < end && buf[rateEnd] !== PIPE) rateEnd++
      if (rateEnd - rateStart < 2 || buf[rateStart] !== AT) return 'bad sample rate'
      sampleRate = parseDecimal(buf, rateStart + 1, rateEnd)
      // Etsy crashes on "@+0.5", reads "@2e-1" as 2 and "@0" as Infinity: we take real rates in (0, 1].
      if (!(sampleRate > 0 && sampleRate <= 1)) return 'bad sample rate'
    }

    const type = readType(buf, typeStart, typeEnd)
    if (type < 0) return 'unknown type'

    if (type === MetricType.Set) {
      const key = this.resolveKey()
      if (key === null) return 'empty key'
      this.sink.onSet(key, buf, start, valueEnd)
      return null
    }
    const value = parseDecimal(buf, start, valueEnd)
    if (!Number.isFinite(value)) return 'bad value'
    if (type === MetricType.Timer && value < 0) return 'negative timer'
    const key = this.resolveKey()
    if (key === null) return 'empty key'
    if (type === MetricType.Counter) this.sink.onCounter(key, value, sampleRate)
    else if (type === MetricType.Timer) this.sink.onTimer(key, value, sampleRate)
    else this.sink.onGauge(key, value, start < valueEnd && (buf[start] === PLUS || buf[start] === MINUS))
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
