import { RawKeyCache } from '../raw-key-cache'
import type { KeyEntry } from '../slots'

/*
 * Key resolution with an admission check, picked per listener at
 * construction: the aggregator asks its packet's gate for the entry of each
 * raw key, and the gate caches its answer by raw bytes, so the check (token
 * lookup, name building) runs once per distinct raw key, not per line.
 */

/** Why a line was refused (numbers, so the hot path compares with typeof). */
export const MISSING_TOKEN = 1
export const UNKNOWN_TOKEN = 2
export const REVOKED_TOKEN = 3
export type Rejection = typeof MISSING_TOKEN | typeof UNKNOWN_TOKEN | typeof REVOKED_TOKEN

export const REJECTION_NAMES = {
  [MISSING_TOKEN]: 'missing_token',
  [UNKNOWN_TOKEN]: 'unknown_token',
  [REVOKED_TOKEN]: 'revoked_token',
} as const

/** A metric's entry; null when its name cleans to nothing; a Rejection when it may not enter. */
export type GateResult = KeyEntry | null | Rejection

/** Builds (or finds) the entry for the name bytes [nameStart, keyEnd) plus tags. */
export type NameResolver = (
  buf: Buffer,
  nameStart: number,
  keyEnd: number,
  tagsStart: number,
  tagsEnd: number,
) => KeyEntry | null

export interface KeyGate {
  /** `hash`: the parser's hash of the raw key bytes, when it has one (see RawKeyCache). */
  resolve(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number, hash?: number): GateResult
  /** Forgets cached answers (names were deleted, or tokens changed); always safe. */
  clear(): void
}

/** Past this many distinct raw keys, a gate starts its cache afresh. */
const RAW_KEY_CACHE_LIMIT = 1_000_000

/** A gate whose answers are cached by raw key bytes: `decide` runs once per distinct raw key. */
export abstract class CachingGate implements KeyGate {
  private readonly cache = new RawKeyCache<GateResult>()

  resolve(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number, hash?: number): GateResult {
    const cached = this.cache.get(buf, keyStart, keyEnd, tagsStart, tagsEnd, hash)
    if (cached !== undefined) return cached
    const result = this.decide(buf, keyStart, keyEnd, tagsStart, tagsEnd)
    if (this.cache.size >= RAW_KEY_CACHE_LIMIT) this.cache.clear()
    this.cache.set(buf, keyStart, keyEnd, tagsStart, tagsEnd, result, hash)
    return result
  }

  clear(): void {
    this.cache.clear()
  }

  protected abstract decide(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number): GateResult
}
