/*
 * Maps the raw bytes of a line's key (and tags) to whatever the caller
 * interned for them, without building a string: the steady state of a
 * metrics daemon is the same few thousand keys over and over, so the hot
 * path is a hash over bytes plus a byte compare. It is only a cache: clear()
 * is always safe and costs one slow lookup per key afterwards.
 */

import { hashKeyBytes } from '../parse/key-hash'
import { wordOffset, wordView } from '../parse/word-view'

const INITIAL_CAPACITY = 1024 // slots; always a power of two
const MAX_LOAD = 0.5

export class RawKeyCache<T> {
  /**
   * The hash per slot, 0 = empty: hashes always have bit 0 set (finishHash),
   * which is also why a key's first slot is taken from the bits above it.
   */
  private hashes = new Int32Array(INITIAL_CAPACITY)
  private starts = new Int32Array(INITIAL_CAPACITY)
  /** Length of the key part; the tags part follows it in the arena. */
  private keyLengths = new Int32Array(INITIAL_CAPACITY)
  private tagLengths = new Int32Array(INITIAL_CAPACITY)
  private values: (T | undefined)[] = new Array<T | undefined>(INITIAL_CAPACITY)
  private arena = Buffer.allocUnsafe(64 * 1024)
  private arenaWords = new DataView(this.arena.buffer, this.arena.byteOffset, this.arena.length)
  private arenaUsed = 0
  private count = 0

  /** Number of cached keys. */
  get size(): number {
    return this.count
  }

  /** `hash` is hashKeyBytes() of the same bytes (the parser computes it while scanning). */
  get(
    buf: Buffer,
    keyStart: number,
    keyEnd: number,
    tagsStart: number,
    tagsEnd: number,
    hash = hashKeyBytes(buf, keyStart, keyEnd, tagsStart, tagsEnd),
  ): T | undefined {
    const mask = this.hashes.length - 1
    const keyLength = keyEnd - keyStart
    const tagLength = tagsEnd - tagsStart
    for (let slot = (hash >>> 1) & mask; ; slot = (slot + 1) & mask) {
      const h = this.hashes[slot]!
      if (h === 0) return undefined
      if (
        h === hash &&
        this.keyLengths[slot] === keyLength &&
        this.tagLengths[slot] === tagLength &&
        this.sameBytes(this.starts[slot]!, buf, keyStart, keyEnd) &&
        (tagLength === 0 || this.sameBytes(this.starts[slot]! + keyLength, buf, tagsStart, tagsEnd))
      ) {
        return this.values[slot]
      }
    }
  }

  /** Adds a key that get() just missed. */
  set(
    buf: Buffer,
    keyStart: number,
    keyEnd: number,
    tagsStart: number,
    tagsEnd: number,
    value: T,
    hash = hashKeyBytes(buf, keyStart, keyEnd, tagsStart, tagsEnd),
  ): void {
    if (this.count + 1 > this.hashes.length * MAX_LOAD) this.grow()
    const keyLength = keyEnd - keyStart
    const tagLength = tagsEnd - tagsStart
    const start = this.reserveArena(keyLength + tagLength)
    buf.copy(this.arena, start, keyStart, keyEnd)
    buf.copy(this.arena, start + keyLength, tagsStart, tagsEnd)
    this.insert(hash, start, keyLength, tagLength, value)
  }

  clear(): void {
    this.hashes = new Int32Array(INITIAL_CAPACITY)
    this.starts = new Int32Array(INITIAL_CAPACITY)
    this.keyLengths = new Int32Array(INITIAL_CAPACITY)
    this.tagLengths = new Int32Array(INITIAL_CAPACITY)
    this.values = new Array<T | undefined>(INITIAL_CAPACITY)
    this.arenaUsed = 0
    this.count = 0
  }

  private insert(hash: number, start: number, keyLength: number, tagLength: number, value: T): void {
    const mask = this.hashes.length - 1
    let slot = (hash >>> 1) & mask
    while (this.hashes[slot] !== 0) slot = (slot + 1) & mask
    this.hashes[slot] = hash
    this.starts[slot] = start
    this.keyLengths[slot] = keyLength
    this.tagLengths[slot] = tagLength
    this.values[slot] = value
    this.count++
  }

  private grow(): void {
    const old = {
      hashes: this.hashes,
      starts: this.starts,
      keyLengths: this.keyLengths,
      tagLengths: this.tagLengths,
      values: this.values,
    }
    const capacity = old.hashes.length * 2
    this.hashes = new Int32Array(capacity)
    this.starts = new Int32Array(capacity)
    this.keyLengths = new Int32Array(capacity)
    this.tagLengths = new Int32Array(capacity)
    this.values = new Array<T | undefined>(capacity)
    this.count = 0
    for (let slot = 0; slot < old.hashes.length; slot++) {
      const h = old.hashes[slot]!
      if (h !== 0) {
        this.insert(h, old.starts[slot]!, old.keyLengths[slot]!, old.tagLengths[slot]!, old.values[slot] as T)
      }
    }
  }

  private reserveArena(length: number): number {
    if (this.arenaUsed + length > this.arena.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.arenaUsed + length))
      this.arena.copy(bigger, 0, 0, this.arenaUsed)
      this.arena = bigger
      this.arenaWords = new DataView(bigger.buffer, bigger.byteOffset, bigger.length)
    }
    const start = this.arenaUsed
    this.arenaUsed += length
    return start
  }

  /** Compares 4 bytes per read (see wordView); the last read may overlap the one before. */
  private sameBytes(arenaStart: number, buf: Buffer, start: number, end: number): boolean {
    const length = end - start
    if (length < 4) {
      for (let i = start, j = arenaStart; i < end; i++, j++) if (buf[i] !== this.arena[j]) return false
      return true
    }
    const words = wordView(buf)
    const at = wordOffset(buf) + start
    const arena = this.arenaWords
    const lastAt = at + length - 4
    for (let p = at, q = arenaStart; p < lastAt; p += 4, q += 4) {
      if (words.getInt32(p, true) !== arena.getInt32(q, true)) return false
    }
    return words.getInt32(lastAt, true) === arena.getInt32(arenaStart + length - 4, true)
  }
}
