import { AddedTags } from './added-tags'
import { KeyHash, finishHash, hashWords, mixWord } from './key-hash'
import { EXACT_POW10, MAX_FAST_DIGITS, isAsciiSpace, parseDecimal } from './number'
import { wordOffset, wordView } from './word-view'

/*
 * Splits a packet into StatsD lines and values without building strings, in
 * one forward scan per packet, following Etsy statsd 0.9's reading of the
 * protocol:
 *
 *   line   = key ":" value { ":" value } { "|" field }
 *   value  = number "|" type [ "|@" rate ]
 *   field  = "#" tag { "," tag } | "@" rate | "c:" container | "T" seconds
 *          | "e:" external data | "card:" cardinality | anything else
 *
 * The fields are DogStatsD's, in any order, each up to the next "|" (the
 * first "|" that does not follow a value's type or rate starts them; they
 * end the line's values). Only the first tag block counts, as in Etsy's
 * split on "|#"; the rate among the fields is the last value's. Unknown
 * fields are ignored and counted (onBadFields), never part of a name; a
 * timestamped line's values go to onTimestamped (points at their time),
 * never into the interval.
 * Event and service check lines (`_e{`, `_sc|`) are handed over whole.
 *
 * Each value is reported to the sink on its own; a bad value is a bad line
 * for statsd.bad_lines_seen (as in Etsy) but never spoils its good neighbours.
 *
 * The scan reads the key 4 bytes at a time (./word-view) and hashes it a
 * word per read, reads the usual type fields ("c", "ms", ...) and plain
 * decimal values directly (anything unusual goes to readType and
 * parseDecimal, which give the same results), and holds a line's values
 * until the line ends: the DogStatsD tags that complete the key, and the
 * rate and timestamp that may apply to them, come after them. The last
 * (usually the only) value of a line stays in local variables; earlier
 * ones wait in a small table.
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
  | 'bad timestamp'

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
  /** `histogram`: it came as a DogStatsD histogram or distribution (`h`, `d`), aggregated as a timer. */
  onTimer(key: K, value: number, sampleRate: number, histogram: boolean): void
  onGauge(key: K, value: number, isDelta: boolean): void
  onSet(key: K, buf: Buffer, valueStart: number, valueEnd: number): void
  /** A DogStatsD event (`_e{...}`) or service check (`_sc|...`) line, never a metric. */
  onEventLine(buf: Buffer, lineStart: number, lineEnd: number, kind: DogStatsdLine): void
  /** `count` DogStatsD fields of the line were not understood and ignored (its values still count). */
  onBadFields(buf: Buffer, lineStart: number, lineEnd: number, count: number): void
  /**
   * A good value of a line with a "T" timestamp (Unix seconds): a point at
   * that time, never added to the interval. `extra` is the sample rate
   * (counters, timers) or 1 for a gauge delta; a set's value is 0.
   */
  onTimestamped(key: K, type: MetricType, value: number, extra: number, timestamp: number): void
}

export const enum DogStatsdLine {
  Event,
  ServiceCheck,
}

/** What the fields after a line's last value said (reused: one per parser). */
interface LineFields {
  /** The "|@rate" among them: 0 none, -1 a bad one. */
  rate: number
  /** The first "#" field's tags (empty range: none). */
  tagsStart: number
  tagsEnd: number
  /** Unix seconds of a "T" field, -1 none, BAD_TIMESTAMP_FIELD a bad one. */
  timestamp: number
  badFields: number
  /** The "c:" field's container ID (empty range: none). */
  containerStart: number
  containerEnd: number
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
  'bad timestamp',
]
const BAD = 4 // outcome BAD + k is BAD_REASONS[k]
const NO_TYPE = BAD
const UNKNOWN_TYPE = BAD + 1
const BAD_VALUE = BAD + 2
const NEGATIVE_TIMER = BAD + 3
const BAD_SAMPLE_RATE = BAD + 4
const BAD_TIMESTAMP = BAD + 5
/** LineFields.timestamp of a "T" field that is not a timestamp. */
const BAD_TIMESTAMP_FIELD = -2

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
  /** End of the value field (sets); for timers, 1 if it came as `h` or `d`. */
  private valueEnds = new Int32Array(INITIAL_PENDING)
  private pending = 0
  private readonly fields: LineFields = { rate: 0, tagsStart: 0, tagsEnd: 0, timestamp: -1, badFields: 0, containerStart: 0, containerEnd: 0 }
  /** Tags added to every line: the datagram's origin ("pid:1,uid:2"), set by the caller per datagram; null: none. */
  originTags: Buffer | null = null
  /** A line's "c:" container ID becomes its tag container_id:<id> (dogstatsd.containerIdTag). */
  containerIdTag = false
  private readonly added = new AddedTags()
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
    if (buf[lineStart] === UNDERSCORE) {
      const kind = eventLineKind(buf, lineStart, end)
      if (kind !== -1) return this.eventLine(buf, lineStart, end, kind)
    }
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
    let keyEnd = i
    i++

    // ---- the values: "value|type[|@rate][|...]" separated by ":", up to "|#" or the line's end.
    // The last (usually only) one stays in these locals; earlier ones go to the pending table.
    this.pending = 0
    let outcome = 0
    let value = 0
    let extra = 0
    let valueEnd = 0
    /** The last value had Etsy's "|@rate" right after its type. */
    let rated = false
    for (;;) {
      const valueStart = i
      rated = false
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
        if (c === PIPE && i + 1 < end && buf[i + 1] === AT) {
          // Etsy's "|@rate": it ends at ":" too, where the line's next value starts.
          i++
          const rateStart = i
          i = separatorAt(buf, i, end)
          c = i < end ? buf[i]! : -1
          sampleRate = readRate(buf, rateStart + 1, i)
          if (sampleRate < 0) outcome = BAD_SAMPLE_RATE
          rated = true
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
          else if (type === MetricType.Timer) {
            if (value < 0) outcome = NEGATIVE_TIMER
            // A timer's valueEnd holds whether it came as a DogStatsD histogram or distribution (`h`, `d`).
            else valueEnd = histogramType(buf, valueEnd + 1, end) ? 1 : 0
          } else if (type === MetricType.Gauge) {
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

    // ---- the DogStatsD fields after the (last) value: "|" separated, to the line's end (without a final "\r")
    let newline = i
    let tagsStart = i
    let tagsEnd = i
    let timestamp = -1
    let badFields = 0
    let containerStart = 0
    let containerEnd = 0
    if (c === PIPE) {
      const fields = this.fields
      fields.rate = 0
      fields.badFields = 0
      fields.timestamp = -1
      fields.tagsStart = fields.tagsEnd = i
      fields.containerStart = fields.containerEnd = 0
      if (i + 1 < end && buf[i + 1] === HASH) {
        // The usual field, tags: read and hashed in one pass, to the next "|" or the line's end.
        let th = mixWord(h, KeyHash.TagSeparator)
        let word = 0
        let shift = 0
        let k = i + 2
        while (k < end) {
          c = buf[k]!
          if (c === NEWLINE || c === PIPE) break
          if (c === CARRIAGE_RETURN && (k + 1 === end || buf[k + 1] === NEWLINE)) break
          word |= c << shift
          shift += 8
          if (shift === 32) {
            th = mixWord(th, word)
            word = shift = 0
          }
          k++
        }
        if (shift !== 0) th = mixWord(th, word)
        fields.tagsStart = i + 2
        fields.tagsEnd = k
        if (k > i + 2) h = th
        // Any other fields after them; else the line ends here (after a final "\r").
        if (k < end && buf[k] === PIPE) newline = this.readFields(buf, k, end, false)
        else newline = k < end && buf[k] === CARRIAGE_RETURN ? k + 1 : k
        if (newline > end) newline = end
      } else {
        // Etsy reads the field right after the type as the rate: a bare number or nothing there is a bad rate.
        newline = this.readFields(buf, i, end, !rated && outcome !== NO_TYPE)
        if (fields.tagsEnd > fields.tagsStart) h = hashWords(mixWord(h, KeyHash.TagSeparator), buf, fields.tagsStart, fields.tagsEnd)
      }
      tagsStart = fields.tagsStart
      tagsEnd = fields.tagsEnd
      timestamp = fields.timestamp
      badFields = fields.badFields
      if (this.containerIdTag) {
        containerStart = fields.containerStart
        containerEnd = fields.containerEnd
      }
      if (fields.rate !== 0 && outcome < BAD) {
        if (fields.rate < 0) outcome = BAD_SAMPLE_RATE
        else if (outcome === MetricType.Counter || outcome === MetricType.Timer) extra = fields.rate
      }
      if (timestamp === BAD_TIMESTAMP_FIELD) {
        timestamp = -1
        if (outcome < BAD) outcome = BAD_TIMESTAMP
        for (let n = 0; n < this.pending; n++) if (this.outcomes[n]! < BAD) this.outcomes[n] = BAD_TIMESTAMP
      }
    } else if (i < end && buf[i] !== NEWLINE) {
      newline = buf.indexOf(NEWLINE, i)
      if (newline < 0 || newline > end) newline = end
    }
    let lineEnd = newline
    if (buf[lineEnd - 1] === CARRIAGE_RETURN) lineEnd-- // there is a ":" before it
    if (tagsStart > lineEnd) tagsStart = tagsEnd = lineEnd

    let hash = finishHash(h)
    this.sink.onLine(buf, lineStart, lineEnd)
    if (badFields > 0) this.sink.onBadFields(buf, lineStart, lineEnd, badFields)
    // The key's bytes, unless tags are added to the line's own (a copy then).
    let keyBuf = buf
    let keyStart = lineStart
    if (containerEnd > containerStart || this.originTags !== null) {
      const added = this.added
      added.build(buf, lineStart, keyEnd, tagsStart, tagsEnd, containerStart, containerEnd, this.originTags)
      keyBuf = added.buf
      keyStart = 0
      keyEnd = added.keyEnd
      tagsStart = added.tagsStart
      tagsEnd = added.tagsEnd
      hash = added.hash
    }
    // Keys are interned lazily (undefined: not yet) so that lines with only bad values never create one.
    let key: K | null | undefined
    for (let n = 0; n < this.pending; n++) {
      key = this.deliver(buf, lineStart, lineEnd, keyBuf, keyStart, keyEnd, tagsStart, tagsEnd, hash, key, this.outcomes[n]!, this.values[n]!, this.extras[n]!, this.valueEnds[n]!, timestamp)
    }
    this.deliver(buf, lineStart, lineEnd, keyBuf, keyStart, keyEnd, tagsStart, tagsEnd, hash, key, outcome, value, extra, valueEnd, timestamp)
    return newline + 1
  }

  /**
   * The DogStatsD fields from i (a "|") to the line's end, into
   * this.fields: each runs to the next "|", in any order. Returns where the
   * line ends (its newline, or end). `rateFirst`: the first one is
   * where Etsy reads the sample rate, so a bare number or nothing there is a
   * bad rate (as in Etsy) rather than an unknown field.
   */
  private readFields(buf: Buffer, i: number, end: number, rateFirst: boolean): number {
    const fields = this.fields
    let start = i + 1
    for (let k = start; ; k++) {
      const c = k < end ? buf[k]! : NEWLINE
      if (c !== PIPE && c !== NEWLINE) continue
      let stop = k
      if (c === NEWLINE && stop > start && buf[stop - 1] === CARRIAGE_RETURN) stop--
      const first = start < stop ? buf[start]! : -1
      if (first === HASH && fields.tagsStart === fields.tagsEnd) {
        // Only the first tag block counts (Etsy's split on "|#"); another is an unknown field.
        fields.tagsStart = start + 1
        fields.tagsEnd = stop
      } else if (first === AT) {
        const rate = readRate(buf, start + 1, stop)
        // One bad rate spoils the value, wherever it is.
        fields.rate = rate < 0 || fields.rate < 0 ? -1 : rate
      } else if (first === UPPER_T) {
        fields.timestamp = readTimestamp(buf, start + 1, stop)
      } else if (hasPrefix(buf, start, stop, CONTAINER_ID)) {
        // A tag only if the config asks (see containerIdTag): a series per container otherwise.
        fields.containerStart = start + CONTAINER_ID.length
        fields.containerEnd = stop
      } else if (hasPrefix(buf, start, stop, EXTERNAL_DATA)) {
        // Read and not used: the origin's external data adds no series.
      } else if (hasPrefix(buf, start, stop, CARDINALITY) && isCardinality(buf, start + CARDINALITY.length, stop)) {
        // Tells the Datadog agent which tags to add from its tagger: nothing to add here.
      } else if (rateFirst && (first < 0 || first === DOT || (first >= 48 && first <= 57))) {
        fields.rate = -1
      } else {
        fields.badFields++
      }
      rateFirst = false
      if (c === NEWLINE) return k < end ? k : end
      start = k + 1
    }
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

  /** An event or service check line, whole: its title and text may hold anything but a newline. */
  private eventLine(buf: Buffer, lineStart: number, end: number, kind: DogStatsdLine): number {
    let newline = buf.indexOf(NEWLINE, lineStart)
    if (newline < 0 || newline > end) newline = end
    let lineEnd = newline
    if (buf[lineEnd - 1] === CARRIAGE_RETURN) lineEnd--
    this.sink.onLine(buf, lineStart, lineEnd)
    this.sink.onEventLine(buf, lineStart, lineEnd, kind)
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

  /** Hands one value of a line to the sink; returns the line's key (undefined while not yet resolved). */
  private deliver(
    buf: Buffer,
    lineStart: number,
    lineEnd: number,
    keyBuf: Buffer,
    keyStart: number,
    keyEnd: number,
    tagsStart: number,
    tagsEnd: number,
    hash: number,
    key: K | null | undefined,
    outcome: number,
    value: number,
    extra: number,
    valueEnd: number,
    timestamp: number,
  ): K | null | undefined {
    const sink = this.sink
    if (outcome >= BAD) {
      sink.onBadLine(buf, lineStart, lineEnd, BAD_REASONS[outcome - BAD]!)
      return key
    }
    if (key === undefined) key = sink.resolveKey(keyBuf, keyStart, keyEnd, tagsStart, tagsEnd, hash)
    if (key === null) {
      sink.onBadLine(buf, lineStart, lineEnd, 'empty key')
      return key
    }
    if (timestamp >= 0) {
      sink.onTimestamped(key, outcome, outcome === MetricType.Set ? 0 : value, outcome === MetricType.Set ? 0 : extra, timestamp)
      return key
    }
    switch (outcome) {
      case MetricType.Counter:
        sink.onCounter(key, value, extra)
        break
      case MetricType.Timer:
        sink.onTimer(key, value, extra, valueEnd === 1)
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

const UPPER_T = 84
const UNDERSCORE = 95
const EVENT_PREFIX = Buffer.from('_e{')
const SERVICE_CHECK_PREFIX = Buffer.from('_sc|')

/** Whether the line at start (its first byte "_") is a DogStatsD event or service check; -1 if neither. */
export function eventLineKind(buf: Buffer, start: number, end: number): DogStatsdLine | -1 {
  if (hasPrefix(buf, start, end, EVENT_PREFIX)) return DogStatsdLine.Event
  if (hasPrefix(buf, start, end, SERVICE_CHECK_PREFIX)) return DogStatsdLine.ServiceCheck
  return -1
}
const CONTAINER_ID = Buffer.from('c:')
const EXTERNAL_DATA = Buffer.from('e:')
const CARDINALITY = Buffer.from('card:')
/** The cardinalities of DogStatsD 1.6's "card:" field. */
const CARDINALITIES = ['none', 'low', 'orchestrator', 'high'].map((name) => Buffer.from(name))

function hasPrefix(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false
  for (let k = 0; k < prefix.length; k++) if (buf[start + k] !== prefix[k]) return false
  return true
}

function isCardinality(buf: Buffer, start: number, end: number): boolean {
  for (const name of CARDINALITIES) if (end - start === name.length && hasPrefix(buf, start, end, name)) return true
  return false
}

/** A sample rate in (0, 1] from buf[start, end) (after the "@"), or -1. */
function readRate(buf: Buffer, start: number, end: number): number {
  if (end <= start) return -1
  const rate = parseDecimal(buf, start, end)
  // Etsy crashes on "@+0.5", reads "@2e-1" as 2 and "@0" as Infinity: we take real rates in (0, 1].
  return rate > 0 && rate <= 1 ? rate : -1
}

/** Unix seconds from the digits of buf[start, end) (after the "T"), or BAD_TIMESTAMP_FIELD. */
function readTimestamp(buf: Buffer, start: number, end: number): number {
  if (end <= start || end - start > 12) return BAD_TIMESTAMP_FIELD
  let seconds = 0
  for (let k = start; k < end; k++) {
    const d = buf[k]! - 48
    if (d < 0 || d > 9) return BAD_TIMESTAMP_FIELD
    seconds = seconds * 10 + d
  }
  return seconds > 0 ? seconds : BAD_TIMESTAMP_FIELD
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

/** Whether the timer type field from start (Etsy trims it) is `h` or `d` rather than `ms`. */
export function histogramType(buf: Buffer, start: number, end: number): boolean {
  while (start < end && isAsciiSpace(buf[start]!)) start++
  return buf[start] !== 109
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
