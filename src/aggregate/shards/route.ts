/*
 * Which shard a line belongs to, and the per-shard batches lines are copied
 * into on the main thread (the JavaScript router; route-native.ts is the
 * addon's). Every line whose metric gets one stored name must land on one
 * shard, or two shards would each flush a part of that metric. The stored
 * name is built from the raw key (src/parse/key-name.ts): sanitising maps
 * different bytes to one name, DogStatsD tags are appended as ";k=v", and a
 * token listener strips a "token." prefix first. So the route hashes a
 * function of the stored name rather than the raw bytes: the raw key after
 * the token (on token listeners), up to its first ";" (tags, and a ";" in the
 * key, only ever come after it, and no transformation adds or removes one),
 * keeping only the bytes name building passes through unchanged
 * ([A-Za-z0-9.=-]; "/" counted as the "-" it becomes). Whitespace, "_" and
 * everything else are skipped, since sanitising turns whitespace runs into
 * "_" and drops the rest. Equal stored names therefore always hash alike;
 * different names that happen to hash alike only share a shard, which is
 * harmless.
 *
 * DogStatsD events and service checks all go to shard 0: their rate limit
 * and the "latest" list are per process, as with one thread.
 */

import type { DatagramBatch } from '../../parse/packets'

const NEWLINE = 10
const COLON = 58
const PIPE = 124
const HASH = 35
const SEMICOLON = 59
const DOT = 46
const UNDERSCORE = 95
const SEED = 0x811c9dc5

/** Byte -> the byte it stands for in the route hash, or -1 for one skipped. */
const ROUTED = new Int16Array(256).fill(-1)
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c)
  if (/[A-Za-z0-9.=-]/.test(ch)) ROUTED[c] = c
}
ROUTED[0x2f] = 0x2d // "/" becomes "-"

/** The shard of the line buf[start, end) (no newline), for a listener with token auth or not. */
export function shardOfLine(buf: Uint8Array, start: number, end: number, token: boolean, shards: number): number {
  if (buf[start] === UNDERSCORE && isEventLine(buf, start, end)) return 0
  let k = start
  if (token) {
    // The token runs to the first "." of the key; a line without one is refused wherever it goes.
    while (k < end && buf[k] !== DOT && buf[k] !== COLON && !(buf[k] === PIPE && k + 1 < end && buf[k + 1] === HASH)) k++
    if (k === end || k === start || buf[k] !== DOT) return 0
    k++
  }
  // The bytes kept, four to a little-endian word, the last one zero-padded (native/statsd_hash.h hashes plain names a word at a time).
  let h = SEED
  let w = 0
  let s = 0
  for (; k < end; k++) {
    const c = buf[k]!
    if (c === COLON || c === SEMICOLON || (c === PIPE && k + 1 < end && buf[k + 1] === HASH)) break
    const m = ROUTED[c]!
    if (m < 0) continue
    w |= m << s
    if ((s += 8) === 32) {
      h = hashWord(h, w)
      w = s = 0
    }
  }
  return toShard(s > 0 ? hashWord(h, w) : h, shards)
}

function hashWord(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x9e3779b1)
  return h ^ (h >>> 15)
}

/** murmur3's finaliser (the words' mixing alone spreads poorly over a few shards), then a multiply for the modulo. */
function toShard(h: number, shards: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return Math.floor(((h >>> 0) * shards) / 0x100000000)
}

/** "_e{" or "_sc|", exactly as the parser tells events and service checks (eventLineKind). */
function isEventLine(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start >= 3 && buf[start + 1] === 0x65 && buf[start + 2] === 0x7b) return true
  return end - start >= 4 && buf[start + 1] === 0x73 && buf[start + 2] === 0x63 && buf[start + 3] === PIPE
}

/** Where a batch's bytes live: a stretch of its shard's shared ring, or a Buffer of its own. */
export interface Region {
  /** The stretch (a view; offsets in segments are relative to it). */
  bytes: Buffer
  /** Where it starts in the ring (0 for a Buffer of its own). */
  start: number
  /** Ring bytes skipped to get here (its end, when the stretch wrapped to the start). */
  skip: number
  shared: boolean
}

/** A region of at least `min` bytes. */
export type RegionSource = (min: number) => Region

/**
 * A Buffer of its own: its own ArrayBuffer (transferable, unlike a slice
 * of Node's pool) and not zeroed, since only what is written is read.
 */
export function ownRegion(min: number): Region {
  return { bytes: Buffer.allocUnsafeSlow(Math.max(min, INITIAL_BYTES)), start: 0, skip: 0, shared: false }
}

/** What a hand-off carries. */
export interface TakenBatch {
  region: Region
  length: number
  lines: number
  segments: Int32Array
}

/**
 * Values per segment in ShardBatch.segments: listener, packets and bytes it
 * counts for, end offset, and the sender's pid and uid (-1 unless the
 * listener reads them: a unixgram listener's originTags).
 */
export const SEGMENT_FIELDS = 6
export const INITIAL_BYTES = 256 * 1024
const NO_BYTES = Buffer.alloc(0)

/**
 * The lines routed to one shard since the last hand-off, each with a
 * newline, in segments of consecutive lines from one listener. Each packet
 * counts (packets_received, listener totals) in the segment of its first
 * line's shard, so that the shards' counts add up to one per packet.
 */
export class ShardBatch {
  bytes: Buffer = NO_BYTES
  length = 0
  lines = 0
  segments: number[] = []
  private region: Region | null = null

  constructor(
    private readonly regions: RegionSource = ownRegion,
    /** A line does not fit: the owner hands the batch over (take). Without one, the batch grows. */
    private readonly onFull: (() => void) | null = null,
  ) {}

  get empty(): boolean {
    return this.segments.length === 0
  }

  /** Room for `need` more bytes (the batch may be handed over for it). */
  ensure(need: number): void {
    if (this.bytes.length - this.length >= need) return
    if (this.length > 0) {
      if (this.onFull === null) return this.grow(this.length + need)
      this.onFull()
    }
    // Nothing written yet: a region with room (counts alone need no bytes).
    this.region = this.regions(need)
    this.bytes = this.region.bytes
  }

  /** The segment the next lines from `source` go to (NativeRouter fills it, then calls advance). */
  open(source: number): void {
    this.segment(source)
  }

  /** The native router added `lines` lines up to `length`, and `packets` packets of `bytes` bytes count here. */
  advance(length: number, lines: number, packets: number, bytes: number): void {
    const last = this.segments.length - SEGMENT_FIELDS
    if (lines === 0 && packets === 0) {
      // A segment opened for nothing is let go.
      const start = last >= SEGMENT_FIELDS ? this.segments[last - SEGMENT_FIELDS + 3]! : 0
      if (this.segments[last + 1] === 0 && this.segments[last + 2] === 0 && this.segments[last + 3] === start) this.segments.length = last
      return
    }
    this.length = length
    this.lines += lines
    this.segments[last + 1]! += packets
    this.segments[last + 2]! += bytes
    this.segments[last + 3] = length
  }

  /** Copies buf[start, end) and a newline. */
  append(buf: Buffer, start: number, end: number, source: number, pid = -1, uid = -1): void {
    this.ensure(end - start + 1)
    const segment = this.segment(source, pid, uid)
    const need = this.length + end - start + 1
    buf.copy(this.bytes, this.length, start, end)
    this.bytes[need - 1] = NEWLINE
    this.length = need
    this.lines++
    this.segments[segment + 3] = need
  }

  /** `packets` packets of `bytes` bytes count here. */
  count(source: number, packets: number, bytes: number, pid = -1, uid = -1): void {
    const segment = this.segment(source, pid, uid)
    this.segments[segment + 1]! += packets
    this.segments[segment + 2]! += bytes
  }

  /** What was gathered (the bytes are the caller's from now on); the batch starts afresh, its next region taken when needed. */
  take(): TakenBatch {
    const region = this.region ?? { bytes: NO_BYTES, start: 0, skip: 0, shared: false }
    const taken = { region, length: this.length, lines: this.lines, segments: Int32Array.from(this.segments) }
    this.bytes = NO_BYTES
    this.region = null
    this.length = this.lines = 0
    this.segments = []
    return taken
  }

  private segment(source: number, pid = -1, uid = -1): number {
    const { segments } = this
    const last = segments.length - SEGMENT_FIELDS
    if (last >= 0 && segments[last] === source && segments[last + 4] === pid && segments[last + 5] === uid) return last
    segments.push(source, 0, 0, this.length, pid, uid)
    return last + SEGMENT_FIELDS
  }

  private grow(need: number): void {
    const grown = ownRegion(Math.max(need, this.bytes.length * 2))
    this.bytes.copy(grown.bytes, 0, 0, this.length)
    this.region = grown
    this.bytes = grown.bytes
  }
}

/** Splits packets into lines and copies each into its shard's batch. */
export interface Router {
  readonly name: string
  routeBatch(batch: DatagramBatch, source: number): void
  /** Routes one stream packet: buf[start, end) holds complete lines. */
  route(buf: Buffer, start: number, end: number, source: number): void
}

/** The router without the addon. */
export class JsRouter implements Router {
  readonly name = 'javascript'

  constructor(
    private readonly batches: readonly ShardBatch[],
    /** Whether each listener (by source id) takes tokens. */
    private readonly tokenSources: readonly boolean[],
  ) {}

  /** Routes every datagram of a batch, each with its sender's pid and uid if the listener read them. */
  routeBatch(batch: DatagramBatch, source: number): void {
    const { slab, ends, count, origins } = batch
    let start = 0
    for (let i = 0; i < count; i++) {
      const end = ends[i]!
      if (origins === null) this.route(slab, start, end, source)
      else this.route(slab, start, end, source, origins[2 * i]!, origins[2 * i + 1]!)
      start = end
    }
  }

  /** Routes the lines of buf[start, end), one datagram or one stream packet. */
  route(buf: Buffer, start: number, end: number, source: number, pid = -1, uid = -1): void {
    const token = this.tokenSources[source] === true
    const shards = this.batches.length
    let first = -1
    let lineStart = start
    while (lineStart < end) {
      let newline = buf.indexOf(NEWLINE, lineStart)
      if (newline < 0 || newline > end) newline = end
      if (newline > lineStart) {
        const shard = shardOfLine(buf, lineStart, newline, token, shards)
        if (first < 0) first = shard
        this.batches[shard]!.append(buf, lineStart, newline, source, pid, uid)
      }
      lineStart = newline + 1
    }
    this.batches[first < 0 ? 0 : first]!.count(source, 1, end - start, pid, uid)
  }
}
