import { CachingGate, type GateResult, MISSING_TOKEN, type NameResolver, REVOKED_TOKEN, UNKNOWN_TOKEN } from './key-gate'

const DOT = 0x2e

/**
 * `auth: "token"` (statsgod's scheme): the first dot-separated segment of
 * the key is a token that must be known and not revoked; it is stripped
 * before the name is built. The answer for a raw key (token included) is
 * cached, so a valid line costs one cache hit, like an unauthenticated one.
 */
export class TokenGate extends CachingGate {
  private tokens: ReadonlyMap<string, boolean>

  constructor(
    tokens: Readonly<Record<string, boolean>>,
    private readonly resolveName: NameResolver,
  ) {
    super()
    this.tokens = new Map(Object.entries(tokens))
  }

  /** Takes effect for the next line: cached answers for old tokens are dropped. */
  setTokens(tokens: Readonly<Record<string, boolean>>): void {
    this.tokens = new Map(Object.entries(tokens))
    this.clear()
  }

  /** Tokens currently accepted. */
  get validTokens(): number {
    let n = 0
    for (const valid of this.tokens.values()) if (valid) n++
    return n
  }

  protected decide(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number): GateResult {
    let dot = keyStart
    while (dot < keyEnd && buf[dot] !== DOT) dot++
    // "token" alone, or ".name", carries no token (statsgod: "Missing authentication token").
    if (dot === keyEnd || dot === keyStart) return MISSING_TOKEN
    const valid = this.tokens.get(buf.toString('utf8', keyStart, dot))
    if (valid === undefined) return UNKNOWN_TOKEN
    if (!valid) return REVOKED_TOKEN
    return this.resolveName(buf, dot + 1, keyEnd, tagsStart, tagsEnd)
  }
}
