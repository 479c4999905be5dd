import type { DogStatsdEvent, ServiceCheck } from '../parse/dogstatsd-events'

/*
 * The last DogStatsD events (or service checks) received, for the admin
 * plane, and those of the interval in progress, for the backends: both
 * bounded, the first in count and bytes, the second by the rate limit,
 * which keeps a flood from costing memory or backend writes.
 */

export interface RecentEventsLimits {
  /** How many are kept for the admin plane (the newest). */
  keep: number
  /** The most bytes (roughly) those may hold; older ones go first. */
  maxBytes: number
  /** More than this many in one second are dropped and counted. */
  perSecond: number
}

export interface RecentEventsFigures<T> {
  received: number
  rateLimited: number
  /** Oldest first. */
  recent: T[]
}

export class RecentEvents<T extends DogStatsdEvent | ServiceCheck> {
  private readonly recent: { item: T; bytes: number }[] = []
  private recentBytes = 0
  private interval: T[] = []
  private second = 0
  private inSecond = 0
  /** Since start. */
  private received = 0
  private rateLimited = 0
  /** This interval's, for the self-metrics. */
  private intervalReceived = 0
  private intervalRateLimited = 0

  constructor(private readonly limits: RecentEventsLimits) {}

  /** Keeps `item`, unless the rate limit is reached: false then (it is counted). */
  add(item: T, nowMs: number): boolean {
    this.received++
    this.intervalReceived++
    const second = Math.floor(nowMs / 1000)
    if (second !== this.second) {
      this.second = second
      this.inSecond = 0
    }
    if (++this.inSecond > this.limits.perSecond) {
      this.rateLimited++
      this.intervalRateLimited++
      return false
    }
    this.interval.push(item)
    const bytes = approximateBytes(item)
    this.recent.push({ item, bytes })
    this.recentBytes += bytes
    while (this.recent.length > this.limits.keep || (this.recentBytes > this.limits.maxBytes && this.recent.length > 0)) {
      this.recentBytes -= this.recent.shift()!.bytes
    }
    return true
  }

  /** The interval's items (for the backends), how many came and how many the rate limit dropped; starts the next interval. */
  takeInterval(): { items: T[]; received: number; rateLimited: number } {
    const taken = { items: this.interval, received: this.intervalReceived, rateLimited: this.intervalRateLimited }
    this.interval = []
    this.intervalReceived = this.intervalRateLimited = 0
    return taken
  }

  figures(): RecentEventsFigures<T> {
    return { received: this.received, rateLimited: this.rateLimited, recent: this.recent.map((r) => r.item) }
  }
}

/** The bytes an event or check holds in memory, roughly (UTF-16 strings), for the store's bound. */
function approximateBytes(item: DogStatsdEvent | ServiceCheck): number {
  let bytes = 64
  for (const value of Object.values(item)) {
    if (typeof value === 'string') bytes += 2 * value.length
    else if (Array.isArray(value)) for (const tag of value as string[]) bytes += 16 + 2 * tag.length
  }
  return bytes
}
