import { nativeFunctions } from './native-addon'

/*
 * Gives the memory of a large typed array kept for reuse back to the kernel
 * while it is idle (native/statsd_malloc.c: madvise MADV_DONTNEED on the
 * whole pages inside it); its contents then read as zeros. Only memory
 * written again before it is read may be given: the parts of a timer arena
 * no region uses any more (src/aggregate/timer-table.ts). Without the addon
 * it does nothing, and the memory stays resident.
 */

type Forget = (view: ArrayBufferView) => number

let forget: Forget | null | undefined

/** Gives back the whole pages inside `view`; returns how many bytes that was (0 without the addon). */
export function forgetPages(view: ArrayBufferView): number {
  if (forget === undefined) {
    const native = nativeFunctions<{ forgetPages: Forget }>(['forgetPages'])
    forget = 'unavailable' in native ? null : native.addon.forgetPages
  }
  return forget === null ? 0 : forget(view)
}
