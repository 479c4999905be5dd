import { uncountedMemory } from '../core/uncounted-memory'

const SEMICOLON = 0x3b

/** NameBytes as it crosses from a shard's thread (structured cloning keeps the arrays, not the class). */
export interface WireNames {
  bytes: Uint8Array
  ends: Int32Array
}

/**
 * Many names as UTF-8 bytes, one after the other: name i is bytes
 * [start(i), ends[i]). A shard's flush part brings its names so (with
 * workers > 1): the main thread made a JS string of every flushed series'
 * name from them, 300k strings a flush at 300k series, which the Graphite
 * backend kept until delivered (55-66 MB of the main heap). Kept as bytes,
 * Graphite copies them straight into its lines; a receiver that wants a
 * string gets one made when it asks (`name`).
 *
 * The bytes are in shared memory, as Graphite's other columns are
 * (uncountedMemory): read-only once made, so one part's names can be kept by
 * any backend for as long as it needs them.
 */
export class NameBytes {
  readonly bytes: Buffer
  /** Whether some name holds a ';' (Graphite tags): only then is each name looked at. */
  private readonly anyTagged: boolean

  constructor(bytes: Uint8Array, readonly ends: Int32Array, anyTagged?: boolean) {
    this.bytes = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.anyTagged = anyTagged ?? this.bytes.indexOf(SEMICOLON) >= 0
  }

  /** The same names in `bytes` and `ends`, which hold a copy of this one's. */
  copiedTo(bytes: Uint8Array, ends: Int32Array): NameBytes {
    return new NameBytes(bytes, ends, this.anyTagged)
  }

  /** `names` encoded, in memory of their own. */
  static encode(names: readonly string[]): NameBytes {
    const joined = names.join('')
    const bytes = Buffer.from(uncountedMemory(Buffer.byteLength(joined)))
    bytes.write(joined, 0)
    const ends = new Int32Array(names.length)
    // One byte per character unless some name is not ASCII.
    const ascii = bytes.length === joined.length
    let end = 0
    for (let i = 0; i < names.length; i++) ends[i] = end += ascii ? names[i]!.length : Buffer.byteLength(names[i]!)
    return new NameBytes(bytes, ends)
  }

  static from(wire: WireNames): NameBytes {
    return new NameBytes(wire.bytes, wire.ends)
  }

  get count(): number {
    return this.ends.length
  }

  start(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1]!
  }

  /** Bytes of name i. */
  length(i: number): number {
    return this.ends[i]! - this.start(i)
  }

  /** Name i as a string (made at each call). */
  name(i: number): string {
    return this.bytes.toString('utf8', this.start(i), this.ends[i]!)
  }

  /** Every name as a string. */
  all(): string[] {
    return Array.from({ length: this.count }, (_, i) => this.name(i))
  }

  /** Whether name i holds a ';' (Graphite tags follow it). */
  tagged(i: number): boolean {
    if (!this.anyTagged) return false
    const end = this.ends[i]!
    for (let at = this.start(i); at < end; at++) if (this.bytes[at] === SEMICOLON) return true
    return false
  }

  /** Held memory, for a bound on what is kept. */
  get byteSize(): number {
    return this.bytes.length + this.ends.length * 4
  }

  toWire(): WireNames {
    return { bytes: this.bytes, ends: this.ends }
  }
}
