import { nativeFunctions } from '../../core/native-addon'
import type { IngestCounters } from '../../core/ingest-counters'
import type { Logger } from '../../log'
import type { PacketQueue } from '../../queue/queue'
import { LentSlabs, slabsFor } from './lent-slabs'
import type { LaneSpec } from '../../aggregate/shards/lanes'

interface BoundSocket {
  fd: number
  port: number
  /** What the kernel reports for SO_RCVBUF (Linux: twice what it grants). */
  recvBufferSize: number
}

type Handle = { readonly __brand: 'statsd_reader handle' }

/** The addon's datagram sockets and reader thread (native/statsd_recv.c, native/statsd_reader.c). */
interface Addon {
  bindUdp(ip: string, port: number, recvBufferSize: number): BoundSocket
  bindUnixgram(path: string, recvBufferSize: number): BoundSocket
  /** 0: nobody reads that socket; -1: somebody does; otherwise the errno of trying. */
  probeUnixgram(path: string): number
  /** onEvent gets each slab handed over and its datagram count, or (-1, 0) when readerStats has new drops. */
  startReader(
    fd: number,
    onEvent: (slab: number, count: number) => void,
    slabs: Buffer,
    ends: Int32Array,
    slabCount: number,
    maxQueued: number,
    /** Unix datagram sockets: SO_PASSCRED, and each datagram's sender (pid, uid) written here beside its end. */
    origins?: Int32Array | null,
    /** Lines go straight to the shards' lanes (src/aggregate/shards/lanes.ts); the slabs stay unused. */
    lanes?: LaneSpec | null,
  ): Handle
  giveBack(handle: Handle, slab: number): void
  readerStats(handle: Handle, out: Float64Array): void
  stopReader(handle: Handle): void
}

/** readerStats' figures (native/statsd_reader.c). */
const enum Stat {
  Read,
  Dropped,
  DroppedBytes,
  Truncated,
  Errors,
  LastErrno,
  Queued,
  QueuedSlabs,
  Count,
}

/**
 * The addon's reader, or why it cannot be used: callers then fall back to
 * node:dgram, or refuse a unixgram listener.
 */
export function nativeReader(): { addon: Addon } | { unavailable: string } {
  return nativeFunctions<Addon>(['bindUdp', 'bindUnixgram', 'probeUnixgram', 'startReader', 'giveBack', 'readerStats', 'stopReader'])
}

export interface DatagramReader {
  /** Reads what the kernel already holds (a close must not lose it), queues it, then closes the socket. */
  close(): void
  /** Whether the thread routes lines straight to the aggregation threads (the queue's lanes) rather than queueing datagrams. */
  readonly routes: boolean
}

/**
 * Reads `fd` (which the addon now owns) on a thread of its own, and queues
 * each slab of datagrams it hands over. The thread's own bound is the
 * queue's: maxBytes of slabs, maxPackets datagrams; what it cannot keep is
 * counted as queue drops. Datagrams too big for its 64 KiB slots (possible
 * on unixgram only) are cut by the kernel: dropped and reported through
 * onTruncated.
 */
export function readDatagrams(
  addon: Addon,
  fd: number,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  onTruncated: (count: number) => void,
  /** The listener's index, for per-listener auth (see PacketQueue.push). */
  source: number,
  /** Read each datagram's sender (unixgram only): batches then carry their origins. */
  origins = false,
): DatagramReader {
  const lanes = queue.lanes?.(source) ?? null
  // With lanes the slabs stay unused: one, for the addon's checks (untouched memory is never resident).
  const slabs = new LentSlabs(lanes === null ? slabsFor(queue.limits.maxBytes) : 1, origins)
  const stats = new Float64Array(Stat.Count)
  const seen = new Float64Array(Stat.Count)
  const countDrops = (): void => {
    addon.readerStats(handle, stats)
    counters.queueDroppedPackets += stats[Stat.Dropped]! - seen[Stat.Dropped]!
    counters.queueDroppedBytes += stats[Stat.DroppedBytes]! - seen[Stat.DroppedBytes]!
    if (stats[Stat.Truncated]! > seen[Stat.Truncated]!) onTruncated(stats[Stat.Truncated]! - seen[Stat.Truncated]!)
    if (stats[Stat.Errors]! > seen[Stat.Errors]!) {
      log.warn({ errors: stats[Stat.Errors]! - seen[Stat.Errors]!, errno: stats[Stat.LastErrno] }, 'datagram reads failed')
    }
    seen.set(stats)
  }
  const handle = addon.startReader(
    fd,
    (index, count) => {
      if (index < 0) return countDrops()
      const batch = slabs.take(index, count)
      // A refused batch is counted as dropped and never reaches the consumer.
      if (!queue.push(batch, source)) batch.done()
    },
    slabs.memory,
    slabs.ends,
    slabs.count,
    queue.limits.maxPackets,
    slabs.origins,
    lanes,
  )
  slabs.onGiveBack = (index) => addon.giveBack(handle, index)
  let closed = false
  return {
    routes: lanes !== null,
    close: () => {
      if (closed) return
      closed = true
      addon.stopReader(handle)
      countDrops()
    },
  }
}
