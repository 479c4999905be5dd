import type { Payload } from './outbox'

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

  /** Bytes already written (a name written for an earlier line), from any Buffer of this output. */
  copy(from: Buffer, start: number, end: number): void {
    const buf = this.buf
    let pos = this.pos
    for (let i = start; i < end; i++) buf[pos++] = from[i]!
    this.pos = pos
  }

  byte(b: number): void {
    this.buf[this.pos++] = b
  }

  /** A number printed exactly as JavaScript prints it (integers without a string in between). */
  number(v: number): void {
    if (!Number.isInteger(v) || v >= 1e15 || v <= -1e15) {
      this.text(String(v))
      return
    }
    const buf = this.buf
    if (v < 0) {
      buf[this.pos++] = 0x2d
      v = -v
    }
    let digits = 1
    for (let rest = v; rest >= 10; rest = Math.floor(rest / 10)) digits++
    let pos = this.pos + digits
    this.pos = pos
    do {
      const next = Math.floor(v / 10)
      buf[--pos] = 0x30 + v - next * 10
      v = next
    } while (v > 0)
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
    this.copy(lineEnd, 0, lineEnd.length)
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
