/*
 * Reading a packet 4 bytes at a time. In V8 (Node 20) every typed-array
 * element access in a loop re-checks the map and the bounds, about 18
 * machine instructions whatever its width, so a byte loop costs ~18 per byte
 * and an unaligned 32-bit DataView read ~23 per 4 bytes. The key scan and the
 * key compare, most of the hot path's bytes, read words through this view.
 */

// Called directly, these cost ~330 instructions a packet; `buf.buffer` in optimised code goes through
// a generic property load as well (~530).
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object
const bufferOf = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'buffer')!.get as (this: Uint8Array) => ArrayBufferLike
const byteOffsetOf = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'byteOffset')!.get as (this: Uint8Array) => number

let lastBuf: Buffer | null = null
let lastMemory: ArrayBufferLike | null = null
let lastView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0))
let lastOffset = 0

/**
 * A DataView over the whole memory `buf` lies in: byte i of buf is at
 * wordOffset(buf) + i. Finding a Buffer's memory costs a call to C++, so
 * the answer for the last Buffer is kept (the
 * parser asks once per packet, the key cache then per line), and the view
 * for the last memory: a batch of datagrams or Buffers from one pool share it.
 */
export function wordView(buf: Buffer): DataView<ArrayBufferLike> {
  if (buf !== lastBuf) remember(buf)
  return lastView
}

/** Where buf starts in wordView(buf). */
export function wordOffset(buf: Buffer): number {
  if (buf !== lastBuf) remember(buf)
  return lastOffset
}

function remember(buf: Buffer): void {
  const memory = bufferOf.call(buf)
  if (memory !== lastMemory) {
    lastView = new DataView(memory)
    lastMemory = memory
  }
  lastOffset = byteOffsetOf.call(buf)
  lastBuf = buf
}
