import { nativeFunctions } from './native-addon'

/**
 * Blocks of this size or more get a mapping of their own from glibc's
 * malloc, given back to the kernel when freed (native/statsd_malloc.c):
 * glibc's own starting value, which it would otherwise raise as large
 * blocks are freed, leaving them in its heap.
 */
export const MMAP_THRESHOLD = 128 * 1024

/**
 * Fixes malloc's mmap threshold at MMAP_THRESHOLD, unless the environment
 * already sets one (MALLOC_MMAP_THRESHOLD_, or glibc.malloc.mmap_threshold
 * in GLIBC_TUNABLES). Returns what is in effect, for the log.
 */
export function fixMmapThreshold(env: NodeJS.ProcessEnv = process.env): number | string {
  if (env.MALLOC_MMAP_THRESHOLD_ !== undefined || /\bglibc\.malloc\.mmap_threshold=/.test(env.GLIBC_TUNABLES ?? '')) return 'from the environment'
  const native = nativeFunctions<{ fixMmapThreshold(bytes: number): boolean }>(['fixMmapThreshold'])
  if ('unavailable' in native) return `left to malloc (${native.unavailable})`
  return native.addon.fixMmapThreshold(MMAP_THRESHOLD) ? MMAP_THRESHOLD : 'left to malloc (not glibc)'
}
