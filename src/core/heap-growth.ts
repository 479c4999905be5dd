import v8 from 'node:v8'

/*
 * After each full garbage collection V8 lets the old generation grow to a
 * multiple of what survived, up to 4x while allocation is fast. A flush of
 * many keys allocates in bursts, so a server given 100k keys at 200k
 * metrics/s reached 260-280 MB of RSS with about 50 MB of live heap. A
 * fixed factor of 1.5 held it at 165-175 MB for the same CPU per metric.
 * Once a flush left little garbage per key, 1.25 took another 7-11 MB off
 * the peak at 100k keys for no CPU the runs could tell (README: Memory).
 */
export const HEAP_GROWING_PERCENT = 25

/**
 * Sets V8's heap growing factor, unless the command line already chose one
 * (`node --heap-growing-percent=N`). Returns the percent in effect, or null
 * when it was left to the command line.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): number | null {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return null
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  return HEAP_GROWING_PERCENT
}
