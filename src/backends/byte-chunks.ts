import type { Payload } from './outbox'

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6]

/** Size of each Buffer output is written into: large enough to keep writes and allocations few. */
export const CHUNK_BYTES = 256 * 1024
/** Longest number JavaScript prints ("-1.7976931348623157e+308"), with room to spare. */
export const MAX_NUMBER_BYTES = 32

/**
 * Output written byte by byte into large Buffers, whole lines only per
 * Buffer: formatting a flush makes no intermediate strings (building and
 * copying them was most of a large flush's cost), and the finished Buffers
 * go to the outbox as they are. The caller reserves room for each line.
 */
export class ByteChunks {
  private readonly sealed: Buffer[] = []
  private sealedBytes = 0
  buf: Buffer = Buffer.allocUnsafe(0)
  pos = 0

  /** Makes room for `bytes` more: a line must never be split between two Buffers. */
  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return
    this.seal()
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes))
  }

  /** A string: ASCII byte by byte, anything else as UTF-8 (reserve 3 bytes per character for it). */
  text(s: string): void {
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

  byte(b: number): void {
    this.buf[this.pos++] = b
  }

  /**
   * A number printed exactly as JavaScript prints it, without making a
   * string for integers and for numbers with at most 6 decimals (12.25,
   * 0.5): printing a double is most of a flush's formatting time otherwise.
   */
  number(v: number): void {
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
        this.digits(whole, 0)
        this.byte(0x2e)
        this.digits(m - whole * scale, k)
        return
      }
    }
    this.text(String(v))
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

  /** Everything written, as the outbox takes it. */
  finish(): Payload {
    // A last Buffer mostly empty is copied, rather than kept whole until delivered.
    if (this.pos < this.buf.length / 2) this.buf = Buffer.from(this.buf.subarray(0, this.pos))
    this.seal()
    return { chunks: this.sealed, bytes: this.sealedBytes }
  }

  private seal(): void {
    if (this.pos === 0) return
    this.sealed.push(this.buf.subarray(0, this.pos))
    this.sealedBytes += this.pos
    this.buf = Buffer.allocUnsafe(0)
    this.pos = 0
  }
}
