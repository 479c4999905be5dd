import { nativeFunctions } from '../../core/native-addon'
import { DatagramBatch } from '../../parse/packets'
import type { PacketQueue } from '../../queue/queue'

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
  watch(fd: number, onBatch: (slab: Buffer, count: number, truncated: number) => void, ends: Int32Array): Handle
  drain(handle: Handle): number
  close(handle: Handle): void
}

/** Datagrams per recvmmsg() in the addon (VLEN). */
const MAX_BATCH = 64

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
  const handle = addon.watch(
    fd,
    (slab, count, truncated) => {
      if (count > 0) queue.push(new DatagramBatch(slab, ends.slice(0, count)), source)
      if (truncated > 0) onTruncated(truncated)
    },
    ends,
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
