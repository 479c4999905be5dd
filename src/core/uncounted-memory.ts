/*
 * Memory V8 (Node 20) leaves out of its external-memory figure. Every
 * ordinary ArrayBuffer counts there, and V8 marks the whole heap for every
 * 64 MB or so of them: the flush's Buffers (200 MB for a large flush) and
 * the timers' value arenas (tens of MB at a flush instant) set off
 * whole-heap markings that took longer than the work and could free
 * nothing, since all of it stays in use. SharedArrayBuffers do not count.
 * The price: such memory, once let go, is freed at V8's next full
 * collection rather than sooner.
 */
export function uncountedMemory(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(bytes)
}
