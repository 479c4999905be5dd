import { ReusePool } from '../reuse-pool'

/*
 * Names of a Graphite flush record (flush-record.ts), kept as references
 * in arrays of NAME_BLOCK slots that go back to a pool with the record's
 * column blocks, so that a steady flush makes no new ones. A new array of
 * names per part lived until Graphite had the flush: V8 promoted every one
 * to its old space, where, once delivered, they waited for a whole-heap
 * collection (at 100k keys × 3 types, about 5 MB a flush with the timers'
 * ends and histogram flags, now in column blocks).
 */

/** Slots of each array names are kept in; a part with more names gets an array of its own. */
export const NAME_BLOCK = 4096

/** `n` names at `at` of `block`. */
export interface NameRange {
  readonly block: readonly string[]
  readonly at: number
  readonly n: number
}

export class NamePool extends ReusePool<string[]> {
  constructor() {
    super(() => new Array<string>(NAME_BLOCK).fill(''))
  }
}

/** One record's names, cut one range after the other from the pool's arrays. */
export class RecordNames {
  private readonly blocks: string[][] = []
  private offset = NAME_BLOCK
  private released = false

  constructor(private readonly pool: NamePool) {}

  /** `pick(row)` of each row, kept. */
  of<T>(rows: readonly T[], pick: (row: T) => string, n = rows.length): NameRange {
    if (this.released || n > NAME_BLOCK) return { block: Array.from({ length: n }, (_, i) => pick(rows[i]!)), at: 0, n }
    if (this.offset + n > NAME_BLOCK) {
      this.blocks.push(this.pool.take())
      this.offset = 0
    }
    const block = this.blocks.at(-1)!
    const at = this.offset
    for (let i = 0; i < n; i++) block[at + i] = pick(rows[i]!)
    this.offset += n
    return { block, at, n }
  }

  /** The record is done with its names: the arrays go back to the pool, emptied (no name kept alive by them). */
  release(): void {
    if (this.released) return
    this.released = true
    this.pool.demanded(this.blocks.length)
    for (const block of this.blocks) {
      block.fill('')
      this.pool.put(block)
    }
  }
}

/** The names of `range` in `out` (reused: valid until its next use). */
export function spread(range: NameRange, out: string[]): string[] {
  const { block, at, n } = range
  out.length = n
  for (let i = 0; i < n; i++) out[i] = block[at + i]!
  return out
}
