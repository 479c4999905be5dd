import type { NameBytes } from '../aggregate/name-bytes'
import { uncountedMemory } from '../core/uncounted-memory'
import type { Payload } from './outbox'
import { ReusePool } from './reuse-pool'

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6]
/** Strings up to this long are written byte by byte. */
const SHORT_TEXT = 12
/** Names up to this many bytes are copied byte by byte (ByteChunks.name). */
const SHORT_NAME = 128

/** Size of each Buffer output is written into: large enough to keep writes and allocations few. */
export const CHUNK_BYTES = 256 * 1024
/** Longest number JavaScript prints ("-1.7976931348623157e+308"), with room to spare. */
export const MAX_NUMBER_BYTES = 32

/**
 * Buffers the pool keeps whatever the last flushes took: a flush written to
 * a socket as it is formatted has one or two out at a time. Sized only by
 * the last flushes, the pool kept none during the first large one (the
 * flushes before were small), so each of its 256 KiB became a new Buffer,
 * resident until V8 collected it: at 100k keys of each type, 22 MB at the
 * peak of bench:e2e's 1.6M metrics/s row, in about one run in two.
 */
const CHUNKS_ALWAYS_KEPT = 8

/**
 * CHUNK_BYTES Buffers for the flushes' output (ReusePool). New Buffers are
 * in memory V8 leaves out of its external-memory figure (uncountedMemory):
 * ordinary ones cost several whole-heap markings per large flush.
 */
export class ChunkPool extends ReusePool<Buffer> {
  constructor() {
    super(() => Buffer.from(uncountedMemory(CHUNK_BYTES)), 4, CHUNKS_ALWAYS_KEPT)
  }

  /** Buffers nothing refers to any more (a delivered or dropped flush's); others sizes are left to the GC. */
  give(chunks: readonly Buffer[]): void {
    for (const chunk of chunks) {
      if (chunk.byteOffset === 0 && chunk.buffer.byteLength === CHUNK_BYTES && !this.put(Buffer.from(chunk.buffer, 0, CHUNK_BYTES))) return
    }
  }
}

/** The pool every ByteChunks takes from. */
export const chunkPool = new ChunkPool()

/**
 * Output written byte by byte into large Buffers, whole lines only per
 * Buffer: formatting a flush makes no intermediate strings (building and
 * copying them was most of a large flush's cost), and the finished Buffers
 * go to the outbox as they are. The caller reserves room for each line.
 */
export class ByteChunks {
  private readonly sealed: Buffer[] = []
  private sealedBytes = 0
  private taken = 0
  buf: Buffer = Buffer.allocUnsafe(0)
  pos = 0

  /** `onChunk` is told of each Buffer as it is completed, so it can be sent while later ones are written. */
  constructor(private readonly onChunk: ((chunk: Buffer) => void) | null = null) {}

  /** Makes room for `bytes` more: a line must never be split between two Buffers. */
  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return
    this.seal()
    this.taken++
    this.buf = bytes <= CHUNK_BYTES ? chunkPool.take() : Buffer.allocUnsafe(bytes)
  }

  /**
   * A string as UTF-8 (reserve 3 bytes per character for it): a short one
   * byte by byte, a longer one (a name) in one native call, which costs
   * less than the loop from about a dozen characters on.
   */
  text(s: string): void {
    if (s.length > SHORT_TEXT) {
      this.pos += this.buf.write(s, this.pos)
      return
    }
    const buf = this.buf
    const start = this.pos
    let pos = start
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) {
        this.pos = start + buf.write(s, start, 'utf8')
        return
      }
      buf[pos++] = c
    }
    this.pos = pos
  }

  /**
   * Bytes already encoded (the line end, a name written for an earlier
   * line): a native copy, which for a typical name costs half a JavaScript
   * byte loop. (Buffer.copy would make a view for every call.)
   */
  copy(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  /**
   * Copies bytes already written at [start, end) of the current Buffer to
   * the end (room for them reserved beforehand, so that the Buffer is still
   * the same): a repeated run of bytes without a view of it to collect.
   */
  repeat(start: number, end: number): void {
    this.buf.copyWithin(this.pos, start, end)
    this.pos += end - start
  }

  /**
   * Name i of `names`, whose bytes are already UTF-8 (reserve its length).
   * Byte by byte up to SHORT_NAME bytes: Buffer.copy from a range makes a
   * view of it at every call, and with workers > 1 (every flushed name
   * copied so) those views were over half of what the main thread
   * allocated at 100k keys, and their young collections most of its
   * CPU beyond one thread's.
   */
  name(names: NameBytes, i: number): void {
    const start = names.start(i)
    const end = names.ends[i]!
    if (end - start > SHORT_NAME) {
      names.bytes.copy(this.buf, this.pos, start, end)
      this.pos += end - start
      return
    }
    const from = names.bytes
    const buf = this.buf
    let pos = this.pos
    for (let at = start; at < end; at++) buf[pos++] = from[at]!
    this.pos = pos
  }

  byte(b: number): void {
    this.buf[this.pos++] = b
  }

  /**
   * A number printed exactly as JavaScript prints it, without making a
   * string for integers and for numbers with at most 6 decimals (12.25,
   * 0.5): printing a double is most of a flush's formatting time otherwise.
   */
  number(v: number): void {
    if (v >= 0 && v < 0x80000000 && (v | 0) === v) {
      this.smallDigits(v, 0)
      return
    }
    if (Number.isInteger(v) && v < 1e15 && v > -1e15) {
      if (v < 0) this.byte(0x2d)
      this.digits(Math.abs(v), 0)
      return
    }
    const a = Math.abs(v)
    if (a >= 1e-6 && a < 1e9) {
      // a * 10^k < 2^50, so at most one integer m can print as a: the first k
      // with m / 10^k === a gives JavaScript's shortest form (see the tests).
      for (let k = 1; k <= 6; k++) {
        const scale = POW10[k]!
        const m = Math.round(a * scale)
        if (m / scale !== a) continue
        if (v < 0) this.byte(0x2d)
        const whole = Math.floor(m / scale)
        this.smallDigits(whole, 0)
        this.byte(0x2e)
        this.smallDigits(m - whole * scale, k)
        return
      }
    }
    this.text(String(v))
  }

  /** digits() for a non-negative integer below 2^31, in integer arithmetic: most numbers a flush prints. */
  private smallDigits(v: number, width: number): void {
    let count = v < 10 ? 1 : v < 100 ? 2 : v < 1e3 ? 3 : v < 1e4 ? 4 : v < 1e5 ? 5 : v < 1e6 ? 6 : v < 1e7 ? 7 : v < 1e8 ? 8 : v < 1e9 ? 9 : 10
    if (count < width) count = width
    const buf = this.buf
    let pos = this.pos + count
    this.pos = pos
    for (let i = 0; i < count; i++) {
      const next = (v / 10) | 0
      buf[--pos] = 0x30 + v - next * 10
      v = next
    }
  }

  /** A non-negative integer below 1e15, left-padded with zeros to `width` digits. */
  private digits(v: number, width: number): void {
    let count = 1
    for (let rest = v; rest >= 10; rest = Math.floor(rest / 10)) count++
    if (count < width) count = width
    const buf = this.buf
    let pos = this.pos + count
    this.pos = pos
    for (let i = 0; i < count; i++) {
      const next = Math.floor(v / 10)
      buf[--pos] = 0x30 + v - next * 10
      v = next
    }
  }

  /** One whole line: a + b + c + d + e + " " + value + lineEnd. */
  line(a: string, b: string, c: string, d: string, e: string, value: number, lineEnd: Buffer): void {
    this.reserve(3 * (a.length + b.length + c.length + d.length + e.length) + MAX_NUMBER_BYTES + lineEnd.length)
    this.text(a)
    this.text(b)
    this.text(c)
    this.text(d)
    this.text(e)
    this.byte(0x20)
    this.number(value)
    this.copy(lineEnd)
  }

  /** line() with name i of `names` as b, and no e (no tags). */
  lineNamed(a: string, names: NameBytes, i: number, c: string, d: string, value: number, lineEnd: Buffer): void {
    this.reserve(3 * (a.length + c.length + d.length) + names.length(i) + MAX_NUMBER_BYTES + lineEnd.length)
    this.text(a)
    this.name(names, i)
    this.text(c)
    this.text(d)
    this.byte(0x20)
    this.number(value)
    this.copy(lineEnd)
  }

  /**
   * Everything written, as the outbox takes it. Once delivered or dropped,
   * `release` gives the Buffers back to the pool. With `onChunk`, the
   * Buffers went to it, and it gives them back: none are kept here, where
   * they would outlive their reuse.
   */
  finish(): Payload & { release(): void } {
    // A last Buffer mostly empty is copied, rather than kept whole until delivered.
    if (this.pos < this.buf.length / 2) {
      const last = this.buf
      this.buf = Buffer.from(this.buf.subarray(0, this.pos))
      chunkPool.give([last])
    }
    this.seal()
    chunkPool.demanded(this.taken)
    const chunks = this.sealed
    return { chunks, bytes: this.sealedBytes, release: () => chunkPool.give(chunks) }
  }

  private seal(): void {
    if (this.pos === 0) return
    const chunk = this.buf.subarray(0, this.pos)
    this.sealedBytes += this.pos
    if (this.onChunk !== null) this.onChunk(chunk)
    else this.sealed.push(chunk)
    this.buf = Buffer.allocUnsafe(0)
    this.pos = 0
  }
}
