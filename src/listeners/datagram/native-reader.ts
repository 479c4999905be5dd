import { nativeFunctions } from '../../core/native-addon'
import { DatagramBatch } from '../../parse/packets'
import type { PacketQueue } from '../../queue/queue'
import { LentSlabs, MAX_BATCH } from './lent-slabs'

interface BoundSocket {
  fd: number
  port: number
  /** What the kernel reports for SO_RCVBUF (Linux: twice what it grants). */
  recvBufferSize: number
}

type Handle = { readonly __brand: 'statsd_recv handle' }

/** The recvmmsg half of the addon (native/statsd_recv.c). */
interface Addon {
  bindUdp(ip: string, port: number, recvBufferSize: number): BoundSocket
  bindUnixgram(path: string, recvBufferSize: number): BoundSocket
  /** 0: nobody reads that socket; -1: somebody does; otherwise the errno of trying. */
  probeUnixgram(path: string): number
  /** onBatch gets a Buffer of the batch's own, or null and the lent slab it filled. */
  watch(
    fd: number,
    onBatch: (slab: Buffer | null, lent: number, count: number, truncated: number) => void,
    ends: Int32Array,
    lent: Buffer,
    lentEnds: Int32Array,
    nextLent: Int32Array,
  ): Handle
  drain(handle: Handle): number
  close(handle: Handle): void
}

/**
 * The addon's reader, or why it cannot be used: callers then fall back to
 * node:dgram, or refuse a unixgram listener.
 */
export function nativeReader(): { addon: Addon } | { unavailable: string } {
  return nativeFunctions<Addon>(['bindUdp', 'bindUnixgram', 'probeUnixgram', 'watch', 'drain', 'close'])
}

export interface DatagramReader {
  /** Reads what the kernel already holds (a close must not lose it), then closes the socket. */
  close(): void
}

/**
 * Queues every batch the addon reads from `fd` (which it now owns). Datagrams
 * too big for the addon's 64 KiB slots (possible on unixgram only) are cut
 * by the kernel: they are dropped and reported through onTruncated.
 */
export function readDatagrams(
  addon: Addon,
  fd: number,
  queue: PacketQueue,
  onTruncated: (count: number) => void,
  /** The listener's index, for per-listener auth (see PacketQueue.push). */
  source: number,
): DatagramReader {
  const ends = new Int32Array(MAX_BATCH)
  const slabs = new LentSlabs()
  const handle = addon.watch(
    fd,
    (slab, lent, count, truncated) => {
      if (count > 0) {
        const batch = slab === null ? slabs.take(lent, count) : new DatagramBatch(slab, ends.slice(0, count))
        // A refused batch is counted as dropped and never reaches the consumer.
        if (!queue.push(batch, source)) batch.done()
      }
      if (truncated > 0) onTruncated(truncated)
    },
    ends,
    slabs.memory,
    slabs.ends,
    slabs.next,
  )
  let closed = false
  return {
    close: () => {
      if (closed) return
      closed = true
      addon.drain(handle)
      addon.close(handle)
    },
  }
}
