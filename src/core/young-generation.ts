import v8 from 'node:v8'
import type { ResourceLimits } from 'node:worker_threads'

/*
 * V8 doubles its young generation whenever enough survives a scavenge, up
 * to 16 MB per semi-space on 64-bit: 32 MB, all resident and never given
 * back, which the server's start-up (loading its modules) and a burst of
 * new keys both reach. The server allocates little per metric, and a flush
 * nothing per key, so the initial 1 MB semi-spaces do as well: at 100k
 * keys the young generation went from 32 MB to 2 MB for the same CPU per
 * metric (README: Memory). Its maximum size is fixed when the heap is
 * created (`--max-semi-space-size` set later has no effect), but V8 reads
 * the growth factor each time it would grow the space, and a factor of 1
 * keeps it at the size it has. So this must run before the rest of the
 * server is loaded (src/core/heap-policy.ts).
 */
export const SEMI_SPACE_GROWTH_FACTOR = 1

/**
 * Keeps V8's young generation at its current size, unless the command line
 * sized it (`--max-semi-space-size`, `--min-semi-space-size`,
 * `--semi-space-growth-factor`). Returns the growth factor in effect, or
 * null when it was left to the command line.
 */
export function fixYoungGeneration(execArgv: readonly string[] = process.execArgv): number | null {
  if (sizedOnCommandLine(execArgv)) return null
  v8.setFlagsFromString(`--semi-space-growth-factor=${SEMI_SPACE_GROWTH_FACTOR}`)
  return SEMI_SPACE_GROWTH_FACTOR
}

/**
 * A worker thread's young generation, in V8's accounting: two semi-spaces
 * and a new large-object space as large as one, so 3 MB is 1 MB
 * semi-spaces, the size the main thread starts with and keeps.
 */
export const WORKER_YOUNG_GENERATION_MB = 3

/**
 * The resource limits a worker thread is started with (shard workers):
 * its young generation capped when its isolate is created, unless the
 * command line sized it. The growth factor alone left each shard's at 2 MB
 * semi-spaces (4 MB resident), grown while the worker bootstrapped: V8
 * resets the factor as it creates each isolate, before any of its code
 * runs (heap-policy.ts).
 */
export function workerResourceLimits(execArgv: readonly string[] = process.execArgv): ResourceLimits | undefined {
  return sizedOnCommandLine(execArgv) ? undefined : { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB }
}

function sizedOnCommandLine(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => /^--((max|min)[-_]semi[-_]space[-_]size|semi[-_]space[-_]growth[-_]factor)\b/.test(arg))
}
