/* snappyjs ships no types; the two functions it exports, for Buffers. */
declare module 'snappyjs' {
  export function compress(input: Buffer): Buffer
  export function uncompress(input: Buffer): Buffer
}
