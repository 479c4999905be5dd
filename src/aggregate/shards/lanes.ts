import { uncountedMemory } from '../../core/uncounted-memory'

/*
 * Lanes: how datagrams reach the shards without the main thread. With the
 * addon, each datagram reader thread (native/statsd_reader.c) splits its
 * datagrams into lines and routes each line, by route.ts's rule, straight
 * into the lane of its shard: one byte ring per reader and shard, in shared
 * memory (native/statsd_lanes.c writes, LaneReader below reads). The reader
 * rings the shard's doorbell (native/statsd_doorbell.c) at the end of each
 * read pass that published lines to it (sooner if its lane is a quarter
 * full), when no wake-up is pending, so each shard takes its lines in place on
 * its own thread, and the datagram bytes cross from the reader's core to the
 * shard's alone. A full lane drops the datagram at the reader, counted in
 * queue.dropped_packets, as a full queue does: the reader never waits.
 *
 * The layout (native/statsd_lanes.h) must agree with the constants here.
 */

/** Int32 indices into a lane's control array. */
export const LANE_HEAD = 0
export const LANE_TAIL = 16
export const LANE_WAKE = 32
export const LANE_LINES = 48
export const LANE_CONTROL_INTS = 64
const REC_FIELDS = 8
/** The record's interval (epoch.ts). */
const REC_EPOCH = 7
const REC_HEADER = REC_FIELDS * 4
const REC_WRAP = -1
/** Room for several of the largest datagrams (native/statsd_lanes.c starts over at 0 from half the lane at most). */
const MIN_LANE_BYTES = 4 * 64 * 1024

/** One lane's memory: shared by the reader thread that writes it and the shard that reads it. */
export interface Lane {
  bytes: SharedArrayBuffer
  control: SharedArrayBuffer
}

/** What the addon's startReader takes to route into lanes: one of each per shard. */
export interface LaneSpec {
  token: boolean
  source: number
  bytes: Uint8Array[]
  controls: Int32Array[]
  doorbells: Int32Array
  /** The interval in progress, and this reader's batch word (epoch.ts). */
  interval: Int32Array
  batch: Int32Array
}

/** Bytes per lane for a queue of `maxBytes` split over `shards`: the queue's bound, shared out. */
export function laneBytes(maxBytes: number, shards: number): number {
  return Math.max(MIN_LANE_BYTES, Math.floor(maxBytes / shards / 4) * 4)
}

/** A lane for each shard, for one reader thread. */
export function createLanes(shards: number, size: number): Lane[] {
  return Array.from({ length: shards }, () => ({
    bytes: uncountedMemory(size),
    control: new SharedArrayBuffer(LANE_CONTROL_INTS * 4),
  }))
}

export function laneSpec(
  lanes: readonly Lane[],
  source: number,
  token: boolean,
  doorbells: readonly number[],
  epoch: { interval: Int32Array; batch: Int32Array },
): LaneSpec {
  return {
    token,
    source,
    bytes: lanes.map((l) => new Uint8Array(l.bytes)),
    controls: lanes.map((l) => new Int32Array(l.control)),
    doorbells: Int32Array.from(doorbells),
    interval: epoch.interval,
    batch: epoch.batch,
  }
}

/** Lines published into a lane, ever (for the count of lines a failed shard held). */
export function linesPublished(lane: Lane): number {
  return Atomics.load(new Int32Array(lane.control), LANE_LINES)
}

/**
 * Lines of one record, buf[start, end) (the whole lane: no Buffer is made per
 * record): its listener, and the packets and bytes they count for, with
 * their sender's pid and uid (-1 if not read).
 */
export type LaneIngest = (buf: Buffer, start: number, end: number, source: number, packets: number, bytes: number, pid: number, uid: number) => void

/** A shard's side: reads its lanes in place and gives their room back. */
export class LaneReader {
  private readonly lanes: { bytes: Buffer; words: Int32Array; control: Int32Array }[] = []
  /** The interval in progress here (epoch.ts): records of later ones wait for its take. */
  private interval = 0

  add(lane: Lane): void {
    this.lanes.push({ bytes: Buffer.from(lane.bytes), words: new Int32Array(lane.bytes), control: new Int32Array(lane.control) })
  }

  /** The take of the interval in progress is done: records of `interval` may be read. */
  startInterval(interval: number): void {
    this.interval = interval
  }

  /** Everything published so far in the interval in progress, record by record, to `ingest`. */
  drain(ingest: LaneIngest): void {
    for (const { bytes, words, control } of this.lanes) {
      // Cleared before the tail is read: a reader that publishes after this rings again (native/statsd_lanes.c).
      Atomics.store(control, LANE_WAKE, 0)
      const tail = Atomics.load(control, LANE_TAIL)
      let at = Atomics.load(control, LANE_HEAD)
      while (at !== tail) {
        const w = at >> 2
        const length = words[w]!
        if (length === REC_WRAP) {
          at = 0
          continue
        }
        // A later interval's: it waits for this one's take (which drains again). An earlier one's, published late, is read (epoch.ts).
        if (((words[w + REC_EPOCH]! - this.interval) | 0) > 0) break
        ingest(bytes, at + REC_HEADER, at + REC_HEADER + length, words[w + 1]!, words[w + 2]!, words[w + 3]!, words[w + 4]!, words[w + 5]!)
        at = (at + REC_HEADER + length + 3) & ~3
        // Given back record by record: a long drain frees room as it goes.
        Atomics.store(control, LANE_HEAD, at)
      }
    }
  }
}
