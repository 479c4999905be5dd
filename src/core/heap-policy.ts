import { fixYoungGeneration } from './young-generation'

/*
 * Imported first by src/main.ts, so that this runs before anything else is
 * loaded: loading the server's modules is enough to grow V8's young
 * generation (see young-generation.ts).
 */
export const semiSpaceGrowthFactor = fixYoungGeneration()
