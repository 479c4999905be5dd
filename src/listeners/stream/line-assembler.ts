const NEWLINE = 0x0a
const TRAILING_NEWLINE = Buffer.from('\n')
/** How much of a dropped line a log message may show. */
const PREVIEW_BYTES = 100
/** Smallest buffer allocated for a carried partial line. */
const MIN_CARRY_CAPACITY = 256

/**
 * Turns a byte stream into packets of complete lines. Each chunk that
 * completes at least one line becomes ONE packet (the aggregator counts a
 * packet per queue entry, as Etsy does for TCP); the unfinished tail is kept
 * for the next chunk. Lines longer than `maxLineBytes` are dropped whole and
 * reported, which also bounds the memory a client can hold here.
 *
 * The common case (no carried tail, no long line) emits a view of the chunk
 * itself: no copy. A carried tail is copied into a buffer of our own: a
 * client trickling a line byte by byte would otherwise make us hold one
 * Buffer object per byte.
 */
export class LineAssembler {
  /** The unfinished last line: carry[0, carryBytes); grows by doubling up to maxLineBytes. */
  private carry: Buffer | null = null
  private carryBytes = 0
  /** Inside an over-long line that has been reported: skip up to its newline. */
  private skipping = false
  private finished = false

  constructor(
    private readonly maxLineBytes: number,
    private readonly emit: (packet: Buffer) => void,
    /** Called once per dropped line with its first bytes (valid during the call only). */
    private readonly onOversized: (preview: Buffer) => void,
  ) {}

  write(chunk: Buffer): void {
    if (this.finished) return
    let start = 0
    if (this.skipping) {
      const nl = chunk.indexOf(NEWLINE)
      if (nl === -1) return
      this.skipping = false
      start = nl + 1
    }
    const lastNl = chunk.lastIndexOf(NEWLINE)
    if (lastNl < start) {
      this.appendCarry(chunk.subarray(start))
      return
    }

    const parts: Buffer[] = []
    if (this.carry !== null) {
      // The carry is the start of the first line: measure that line whole.
      const firstNl = chunk.indexOf(NEWLINE, start)
      if (this.carryBytes + (firstNl - start) > this.maxLineBytes) {
        this.onOversized(this.carry.subarray(0, Math.min(this.carryBytes, PREVIEW_BYTES)))
        start = firstNl + 1
      } else {
        parts.push(this.carry.subarray(0, this.carryBytes))
      }
      this.dropCarry()
    }
    if (start <= lastNl) {
      const lines = this.withoutLongLines(chunk, start, lastNl)
      if (lines === null) parts.push(chunk.subarray(start, lastNl + 1))
      else parts.push(...lines)
    }
    if (parts.length === 1) this.emit(parts[0]!)
    else if (parts.length > 1) this.emit(Buffer.concat(parts))

    if (lastNl + 1 < chunk.length) this.appendCarry(chunk.subarray(lastNl + 1))
  }

  /**
   * The stream has ended: a last line without its newline is still a line
   * (Etsy loses it; we keep it). Later writes are ignored.
   */
  finish(): void {
    if (this.finished) return
    this.finished = true
    const carry = this.carry
    if (carry !== null) {
      if (carry.length > this.carryBytes) {
        carry[this.carryBytes] = NEWLINE
        this.emit(carry.subarray(0, this.carryBytes + 1))
      } else {
        this.emit(Buffer.concat([carry, TRAILING_NEWLINE]))
      }
    }
    this.dropCarry()
  }

  private appendCarry(tail: Buffer): void {
    if (tail.length === 0) return
    const needed = this.carryBytes + tail.length
    if (needed > this.maxLineBytes) {
      const head = this.carry ?? tail
      this.onOversized(head.subarray(0, Math.min(this.carry !== null ? this.carryBytes : tail.length, PREVIEW_BYTES)))
      this.dropCarry()
      this.skipping = true
      return
    }
    if (this.carry === null || needed > this.carry.length) {
      const capacity = Math.min(this.maxLineBytes, Math.max(needed, 2 * (this.carry?.length ?? 0), MIN_CARRY_CAPACITY))
      const grown = Buffer.allocUnsafe(capacity)
      if (this.carry !== null) this.carry.copy(grown, 0, 0, this.carryBytes)
      this.carry = grown
    }
    tail.copy(this.carry, this.carryBytes)
    this.carryBytes = needed
  }

  /** Released, not kept for reuse: an idle connection should not pin up to maxLineBytes. */
  private dropCarry(): void {
    this.carry = null
    this.carryBytes = 0
  }

  /**
   * The complete lines of chunk[start..lastNl] (lastNl being a newline) with
   * any over-long ones cut out, or null when none is too long (the usual
   * case). It hops from newline to newline at most maxLineBytes apart, so it
   * costs a native search per maxLineBytes, not per line.
   */
  private withoutLongLines(chunk: Buffer, start: number, lastNl: number): Buffer[] | null {
    const max = this.maxLineBytes
    let kept: Buffer[] | null = null
    let keptFrom = start
    let lineStart = start
    // A line starting at lineStart ends at a newline <= lastNl, so once the
    // remaining span is short enough every line in it is too.
    while (lastNl - lineStart > max) {
      const nl = chunk.lastIndexOf(NEWLINE, lineStart + max)
      if (nl >= lineStart) {
        lineStart = nl + 1
        continue
      }
      // No newline within max bytes: the line starting here is too long.
      const end = chunk.indexOf(NEWLINE, lineStart + max + 1)
      this.onOversized(chunk.subarray(lineStart, Math.min(end, lineStart + PREVIEW_BYTES)))
      kept ??= []
      if (lineStart > keptFrom) kept.push(chunk.subarray(keptFrom, lineStart))
      lineStart = keptFrom = end + 1
    }
    if (kept !== null && keptFrom <= lastNl) kept.push(chunk.subarray(keptFrom, lastNl + 1))
    return kept
  }
}
