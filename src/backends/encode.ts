import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Payload } from './outbox'

/** Longest stretch of formatting before other work (sockets, the flush loop) gets a turn. */
const SLICE_MS = 10
/** Characters formatted per piece: small enough to encode fast, large enough to keep writes few. */
export const CHUNK_CHARS = 64 * 1024

/**
 * Runs a formatter's pieces into Buffers, yielding to the event loop between
 * pieces once a slice is used up, so formatting a very large flush never
 * holds the event loop for long. Each piece becomes a flat Buffer at once:
 * kept as JavaScript strings, the concatenated pieces would cost several
 * times their length in memory (see the README, "Isolation").
 */
export async function encodeInSlices(pieces: Iterable<string>, encode: (piece: string) => Buffer): Promise<Payload> {
  const chunks: Buffer[] = []
  let bytes = 0
  await runInSlices(pieces, (piece) => {
    if (piece.length === 0) return
    const chunk = encode(piece)
    chunks.push(chunk)
    bytes += chunk.length
  })
  return { chunks, bytes }
}

/** Steps through `steps`, handing each to `each`, and lets the event loop run whenever a slice is used up. */
export async function runInSlices<T>(steps: Iterable<T>, each: (step: T) => void): Promise<void> {
  let sliceStart = Date.now()
  for (const step of steps) {
    each(step)
    if (Date.now() - sliceStart >= SLICE_MS) {
      await nextTurn()
      sliceStart = Date.now()
    }
  }
}

/** Runs `job` after every job queued before it, so payloads keep the order of their flushes. */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve()

  run(job: () => Promise<void>): Promise<void> {
    const done = this.tail.then(job)
    // A failed job is reported to its caller; the jobs after it still run.
    this.tail = done.catch(() => {})
    return done
  }
}

/** A chunk of whole lines as runs of at most `limit` bytes, each ending on a line (a longer line goes alone). */
export function* lineRuns(chunk: Buffer, limit: number): Generator<Buffer> {
  let start = 0
  while (chunk.length - start > limit) {
    const nl = chunk.lastIndexOf(0x0a, start + limit - 1)
    const end = nl >= start ? nl + 1 : chunk.indexOf(0x0a, start) + 1 || chunk.length
    yield chunk.subarray(start, end)
    start = end
  }
  if (start < chunk.length) yield chunk.subarray(start)
}
