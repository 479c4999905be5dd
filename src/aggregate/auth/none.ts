import { RawKeyCache } from '../raw-key-cache'
import type { KeyEntry } from '../slots'
import { type GateResult, type KeyGate, type NameResolver, RAW_KEY_CACHE_LIMIT } from './key-gate'

/** `auth: "none"`: every key is admitted as it is. */
export class OpenGate implements KeyGate {
  private readonly cache = new RawKeyCache<KeyEntry | null>()

  constructor(private readonly resolveName: NameResolver) {}

  resolve(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number): GateResult {
    const cached = this.cache.get(buf, keyStart, keyEnd, tagsStart, tagsEnd)
    if (cached !== undefined) return cached
    const entry = this.resolveName(buf, keyStart, keyEnd, tagsStart, tagsEnd)
    if (this.cache.size >= RAW_KEY_CACHE_LIMIT) this.cache.clear()
    this.cache.set(buf, keyStart, keyEnd, tagsStart, tagsEnd, entry)
    return entry
  }

  clear(): void {
    this.cache.clear()
  }
}
