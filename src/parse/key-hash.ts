/*
 * The hash that identifies a line's raw key (and DogStatsD tags): FNV-1a over
 * the key bytes, a 0xff separator, then the tag bytes (separator and tags only
 * when there are tags). The parser computes it byte by byte while it scans
 * the line; the key cache uses this function for keys it did not get from
 * the parser. Both must give the same number for the same bytes.
 */

// A const enum, so that tsc writes the numbers into the parser's byte loop
// (an imported const would be a property load per byte).
export const enum Fnv {
  Offset = 0x811c9dc5 | 0,
  Prime = 0x01000193,
  TagSeparator = 0xff,
}

/** Folds the high bits into the low ones (tables mask low bits) and marks the hash non-zero. */
export function finishHash(h: number): number {
  h ^= h >>> 16
  return h | 1
}

export function hashKeyBytes(buf: Uint8Array, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number): number {
  let h = Fnv.Offset
  for (let i = keyStart; i < keyEnd; i++) h = Math.imul(h ^ buf[i]!, Fnv.Prime)
  if (tagsEnd > tagsStart) {
    h = Math.imul(h ^ Fnv.TagSeparator, Fnv.Prime)
    for (let i = tagsStart; i < tagsEnd; i++) h = Math.imul(h ^ buf[i]!, Fnv.Prime)
  }
  return finishHash(h)
}
