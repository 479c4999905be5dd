import { fixYoungGeneration } from './young-generation'

/*
 * Imported first by src/main.ts, so that this runs before anything else is
 * loaded: loading the server's modules is enough to grow V8's young
 * generation (see young-generation.ts). Imported first by each shard's
 * worker too (src/aggregate/shards/shard-worker.ts): V8 raises the
 * process-wide semi-space growth factor back to at least 2 whenever it
 * creates an isolate, so each worker thread that starts undid it for every
 * thread, and with `workers: 2` each of the three isolates kept a 30 MB
 * young generation (90 MB of RSS, against 2 MB each).
 */
export const semiSpaceGrowthFactor = fixYoungGeneration()

/** Sets the growth factor again once worker threads have started (each start undid it), unless the command line chose one. */
export function refixYoungGeneration(): void {
  if (semiSpaceGrowthFactor !== null) fixYoungGeneration()
}
