/** A seeded generator of numbers in [0, 1]: the same sequence on every run, so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff
    return s / 0x7fffffff
  }
}
