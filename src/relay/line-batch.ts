const NEWLINE = 0x0a

/**
 * Lines for one destination, packed newline-terminated into datagrams of at
 * most maxBytes. A full datagram is handed on at once, a partial one by
 * flush() (the relay flushes after each drain of its queue, so a quiet
 * client's line waits for nothing). Each datagram is a fresh Buffer: the
 * previous one may still be in the kernel's hands (dgram sends are async).
 */
export class LineBatch {
  private buf: Buffer
  private fill = 0
  private lines = 0

  constructor(
    private readonly maxBytes: number,
    /** Largest single line (with its newline) sent in a datagram of its own; longer ones are refused. */
    private readonly maxLineBytes: number,
    private readonly emit: (datagram: Buffer, lines: number) => void,
  ) {
    this.buf = Buffer.allocUnsafe(maxBytes)
  }

  /** Lines added and not yet handed on. */
  get pending(): number {
    return this.lines
  }

  /** Adds line src[start, end) (without its newline); false if it is too long to send at all. */
  add(src: Buffer, start: number, end: number): boolean {
    const size = end - start + 1
    if (size > this.maxBytes) return this.sendAlone(src, start, end)
    if (this.fill + size > this.maxBytes) this.flush()
    const buf = this.buf
    let at = this.fill
    // A byte loop beats Buffer.copy's native call for lines this short.
    if (size < 64) for (let i = start; i < end; i++) buf[at++] = src[i]!
    else at += src.copy(buf, at, start, end)
    buf[at++] = NEWLINE
    this.fill = at
    this.lines++
    return true
  }

  flush(): void {
    if (this.lines === 0) return
    const datagram = this.buf.subarray(0, this.fill)
    const lines = this.lines
    this.buf = Buffer.allocUnsafe(this.maxBytes)
    this.fill = 0
    this.lines = 0
    this.emit(datagram, lines)
  }

  private sendAlone(src: Buffer, start: number, end: number): boolean {
    if (end - start + 1 > this.maxLineBytes) return false
    this.flush()
    const datagram = Buffer.allocUnsafe(end - start + 1)
    src.copy(datagram, 0, start, end)
    datagram[end - start] = NEWLINE
    this.emit(datagram, 1)
    return true
  }
}
