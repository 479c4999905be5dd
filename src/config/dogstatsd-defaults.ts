/*
 * The `dogstatsd` section's defaults, apart from the schema so that the
 * aggregator can use them without loading zod: a worker thread that only
 * aggregates then costs about 9 MB less (bench/worker-memory.ts).
 */
export const DOGSTATSD_DEFAULTS = { keepEvents: 100, keepEventBytes: 1024 * 1024, eventsPerSecond: 100 } as const
