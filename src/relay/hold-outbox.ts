/**
 * A down node's lines under the "hold" policy, as the datagrams they were
 * batched into, oldest first, within maxBytes: past it the oldest are
 * dropped (the newest lines are the ones an operator can still use).
 */
export class HoldOutbox {
  private readonly datagrams: Buffer[] = []
  private readonly lineCounts: number[] = []
  private head = 0
  private byteCount = 0
  private lineCount = 0

  constructor(
    private readonly maxBytes: number,
    private readonly onDrop: (lines: number) => void,
  ) {}

  get bytes(): number {
    return this.byteCount
  }

  get lines(): number {
    return this.lineCount
  }

  get empty(): boolean {
    return this.head === this.datagrams.length
  }

  push(datagram: Buffer, lines: number): void {
    this.datagrams.push(datagram)
    this.lineCounts.push(lines)
    this.byteCount += datagram.length
    this.lineCount += lines
    while (this.byteCount > this.maxBytes && !this.empty) this.onDrop(this.shift()!.lines)
  }

  /** The oldest datagram, or undefined when empty. */
  shift(): { datagram: Buffer; lines: number } | undefined {
    if (this.empty) return undefined
    const datagram = this.datagrams[this.head]!
    const lines = this.lineCounts[this.head]!
    this.datagrams[this.head] = EMPTY
    this.head++
    this.byteCount -= datagram.length
    this.lineCount -= lines
    // Compact once the consumed half dominates, so shift stays O(1) amortised.
    if (this.head > 1024 && this.head * 2 > this.datagrams.length) {
      this.datagrams.splice(0, this.head)
      this.lineCounts.splice(0, this.head)
      this.head = 0
    }
    return { datagram, lines }
  }
}

const EMPTY = Buffer.alloc(0)
