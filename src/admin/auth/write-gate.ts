import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { AdminAuthConfig } from '../../config/admin-auth-schema'

/*
 * Who may change the running server through the admin plane. Reads are
 * always open (probes and scrapers need them). Writes are open on a server
 * bound to loopback; elsewhere they need the admin token, or are open
 * without one only where the operator chose it (adminAuth.openWrites, set
 * for Etsy configs). Refusals are counted; wrong tokens are limited per
 * source address: a flood from one address is refused without comparing
 * anything, and cannot lock out an operator elsewhere.
 */

/** Failed attempts allowed per source address per window; past them, refused until the window ends. */
export const FAILURES_PER_WINDOW = 10
export const FAILURE_WINDOW_MS = 60_000
/** Source addresses remembered at once: a flood from many addresses cannot grow memory without bound. */
const MAX_SOURCES = 4096

export type WriteVerdict =
  | 'allowed'
  /** No token was presented where one is needed. */
  | 'missing'
  | 'wrong'
  /** Too many failures from this address lately: not even compared. */
  | 'rate-limited'
  /** Not loopback, no token configured, openWrites off: nobody may write here. */
  | 'closed'

export type RefusalReason = Exclude<WriteVerdict, 'allowed'>

interface SourceFailures {
  windowStart: number
  failures: number
  /** Its refusal for being limited has been logged in this window. */
  limitLogged: boolean
}

export interface WriteGateLog {
  warn(obj: object, msg: string): void
}

export class WriteGate {
  private tokenDigest: Buffer | null = null
  private openWrites = false
  /** Changes with every update(): a console session authenticated before a reload must authenticate again. */
  generation = 0
  private readonly sources = new Map<string, SourceFailures>()
  /** Refused writes since start, by reason. */
  readonly refusals: Record<RefusalReason, number> = { missing: 0, wrong: 0, 'rate-limited': 0, closed: 0 }

  constructor(
    settings: AdminAuthConfig,
    private readonly log: WriteGateLog,
    private readonly now: () => number = Date.now,
  ) {
    this.update(settings)
  }

  /** SIGHUP: a new token (or none) takes effect for the next attempt. */
  update(settings: AdminAuthConfig): void {
    this.tokenDigest = settings.token === undefined ? null : digest(settings.token)
    this.openWrites = settings.openWrites
    this.sources.clear()
    this.generation++
  }

  get hasToken(): boolean {
    return this.tokenDigest !== null
  }

  /** Whether a server bound to `address` lets writes through without a token (for the start-up log). */
  writesWithoutToken(address: string): boolean {
    return isLoopback(address) || (this.tokenDigest === null && this.openWrites)
  }

  /**
   * May `source` write on a server bound to `boundAddress`, presenting
   * `token` (undefined: none)? Refusals are counted and logged, never with
   * the token.
   */
  check(boundAddress: string, source: string, token: string | undefined, server: 'http' | 'mgmt'): WriteVerdict {
    if (isLoopback(boundAddress)) return 'allowed'
    if (this.tokenDigest === null) return this.openWrites ? 'allowed' : this.refuse('closed', source, server)
    const now = this.now()
    const seen = this.sources.get(source)
    if (seen !== undefined && now - seen.windowStart < FAILURE_WINDOW_MS && seen.failures >= FAILURES_PER_WINDOW) {
      return this.refuse('rate-limited', source, server)
    }
    if (token === undefined) return this.refuse('missing', source, server)
    // Both sides hashed first: equal lengths for timingSafeEqual, and the token's length does not leak.
    if (timingSafeEqual(digest(token), this.tokenDigest)) return 'allowed'
    // Only guesses count towards the limit: a client that just forgot the token is told so every time.
    this.failed(source, now)
    return this.refuse('wrong', source, server)
  }

  private failed(source: string, now: number): void {
    let seen = this.sources.get(source)
    if (seen === undefined || now - seen.windowStart >= FAILURE_WINDOW_MS) {
      this.sources.delete(source)
      if (this.sources.size >= MAX_SOURCES) this.forgetOldest(now)
      seen = { windowStart: now, failures: 0, limitLogged: false }
      this.sources.set(source, seen)
    }
    seen.failures++
  }

  /** Drops expired windows, or else the oldest one (Map order is insertion order, so windows start in order). */
  private forgetOldest(now: number): void {
    for (const [source, seen] of this.sources) {
      if (now - seen.windowStart < FAILURE_WINDOW_MS && this.sources.size < MAX_SOURCES) break
      this.sources.delete(source)
    }
  }

  private refuse(reason: RefusalReason, source: string, server: 'http' | 'mgmt'): RefusalReason {
    this.refusals[reason]++
    // Once limited, one line per source per window: a flood cannot flood the log.
    const seen = this.sources.get(source)
    if (reason === 'rate-limited' && seen !== undefined) {
      if (seen.limitLogged) return reason
      seen.limitLogged = true
    }
    this.log.warn({ server, source, reason }, 'admin write refused')
    return reason
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

/** 127.0.0.0/8, ::1, their IPv4-mapped form, and the name localhost. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase()
  if (a === 'localhost' || a === '::1' || a === '0:0:0:0:0:0:0:1') return true
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a
  return isIP(v4) === 4 && v4.startsWith('127.')
}
