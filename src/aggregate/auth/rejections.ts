import type { Logger } from '../../log'
import type { SelfMetric } from '../flush-data'
import { REJECTION_NAMES, type Rejection } from './key-gate'

/** Refused lines logged per flush interval; the rest are only counted. */
const LOGGED_PER_FLUSH = 20
/** A log shows at most this much of a token, so logs never leak one. */
const TOKEN_CHARS_SHOWN = 4
const NAME_BYTES_SHOWN = 100
const DOT = 0x2e
const COLON = 0x3a

/** A token as logs may show it: its first 4 characters, then "…" if there was more. */
export function tokenPreview(token: string): string {
  const chars = [...token]
  return chars.length > TOKEN_CHARS_SHOWN ? chars.slice(0, TOKEN_CHARS_SHOWN).join('') + '…' : token
}

/** A line from a token listener, fit for a log: the leading token cut to its preview. */
export function lineWithTokenMasked(buf: Buffer, start: number, end: number): string {
  let dot = start
  while (dot < end && buf[dot] !== DOT && buf[dot] !== COLON) dot++
  if (dot === end || buf[dot] !== DOT) return buf.toString('utf8', start, end)
  return tokenPreview(buf.toString('utf8', start, dot)) + buf.toString('utf8', dot, end)
}

/** "udp 127.0.0.1:8125" -> "udp_8125"; "unix /run/statsd.sock" -> "unix_statsd_sock". */
export function listenerMetricName(description: string): string {
  const space = description.indexOf(' ')
  const type = description.slice(0, space)
  const where = description.slice(space + 1)
  const tail = type === 'unix' ? where.slice(where.lastIndexOf('/') + 1) : where.slice(where.lastIndexOf(':') + 1)
  return `${type}_${tail.replace(/[^A-Za-z0-9_-]/g, '_')}`
}

interface SourceCounts {
  description: string
  name: string
  byReason: [missing: number, unknown: number, revoked: number]
}

/**
 * Lines refused by token checks, per listener: counted for the flush's
 * self-metrics (`auth.<listener>.rejected_lines` and one per reason, sent
 * with every flush for every token listener, zeros included, so a graph
 * shows "none" rather than a gap) and logged, a few per interval, without
 * ever showing a whole token.
 */
export class AuthRejections {
  private readonly sources = new Map<number, SourceCounts>()
  private logged = 0
  private notLogged = 0

  constructor(
    /** Description ("udp 127.0.0.1:8125") of each token listener, by source id. */
    tokenListeners: ReadonlyMap<number, string>,
    private readonly log: Logger,
  ) {
    this.describe(tokenListeners)
  }

  /** Names by the bound addresses, known only once listeners are up (port 0). */
  describe(tokenListeners: ReadonlyMap<number, string>): void {
    const taken = new Set<string>()
    for (const [source, description] of tokenListeners) {
      let name = listenerMetricName(description)
      if (taken.has(name)) name += `_${source}`
      taken.add(name)
      const counts = this.sources.get(source)
      if (counts === undefined) this.sources.set(source, { description, name, byReason: [0, 0, 0] })
      else Object.assign(counts, { description, name })
    }
  }

  record(source: number, reason: Rejection, buf: Buffer, keyStart: number, keyEnd: number): void {
    const counts = this.sources.get(source)
    if (counts !== undefined) counts.byReason[reason - 1]!++
    if (this.logged >= LOGGED_PER_FLUSH) {
      this.notLogged++
      return
    }
    this.logged++
    const shown = Math.min(keyEnd, keyStart + NAME_BYTES_SHOWN)
    this.log.warn(
      { listener: counts?.description ?? `source ${source}`, reason: REJECTION_NAMES[reason], key: lineWithTokenMasked(buf, keyStart, shown) },
      'line refused by token authentication',
    )
  }

  /** Appends this interval's figures to `out` and starts the next interval. */
  flush(out: SelfMetric[]): void {
    for (const counts of this.sources.values()) {
      const [missing, unknown, revoked] = counts.byReason
      const prefix = `auth.${counts.name}.`
      out.push(
        { name: prefix + 'rejected_lines', value: missing + unknown + revoked },
        { name: prefix + REJECTION_NAMES[1], value: missing },
        { name: prefix + REJECTION_NAMES[2], value: unknown },
        { name: prefix + REJECTION_NAMES[3], value: revoked },
      )
      counts.byReason = [0, 0, 0]
    }
    if (this.notLogged > 0) this.log.warn({ count: this.notLogged }, 'more lines refused by token authentication than were logged')
    this.logged = 0
    this.notLogged = 0
  }
}
