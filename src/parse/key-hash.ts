/*
 * The hash that identifies a line's raw key (and DogStatsD tags), taken 4
 * bytes at a time: each little-endian 32-bit word of the key (the last one
 * zero-padded) is mixed in; with tags, a separator word, then the tag words
 * the same way. The parser computes it while it scans the line, a word per
 * read; the key cache uses this function for keys it did not get from the
 * parser. Both must give the same number for the same bytes.
 */

// A const enum, so that tsc writes the numbers into the parser's loops
// (an imported const would be a property load per word).
export const enum KeyHash {
  Seed = 0x811c9dc5 | 0,
  /** Odd, with bits spread over the whole word: every input bit reaches the high half. */
  Multiplier = 0x9e3779b1 | 0,
  TagSeparator = 0xff,
}

/**
 * One word into the hash. The parser's word loop repeats this expression
 * inline (`h = Math.imul(h ^ w, KeyHash.Multiplier); h ^= h >>> 15`).
 */
export function mixWord(h: number, w: number): number {
  h = Math.imul(h ^ w, KeyHash.Multiplier)
  return h ^ (h >>> 15)
}

/** Folds the high bits into the low ones (tables mask low bits) and marks the hash non-zero. */
export function finishHash(h: number): number {
  h ^= h >>> 16
  return h | 1
}

export function hashKeyBytes(buf: Uint8Array, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number): number {
  let h = hashWords(KeyHash.Seed, buf, keyStart, keyEnd)
  if (tagsEnd > tagsStart) h = hashWords(mixWord(h, KeyHash.TagSeparator), buf, tagsStart, tagsEnd)
  return finishHash(h)
}

/** Mixes buf[start, end) into h a word at a time, the last word zero-padded. */
export function hashWords(h: number, buf: Uint8Array, start: number, end: number): number {
  let word = 0
  let shift = 0
  for (let i = start; i < end; i++) {
    word |= buf[i]! << shift
    shift += 8
    if (shift === 32) {
      h = mixWord(h, word)
      word = shift = 0
    }
  }
  return shift === 0 ? h : mixWord(h, word)
}
