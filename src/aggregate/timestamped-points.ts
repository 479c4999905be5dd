/*
 * DogStatsD values with a client timestamp (`T<seconds>`): points at that
 * time, kept apart from the interval's aggregate as the DogStatsD agent
 * keeps them (its no-aggregation pipeline), and handed to the backends with
 * the flush of the interval they arrived in. As in the agent, only counters
 * and gauges may carry one. Within one interval, counter points of the same
 * name and second add up (sample rate applied) and a gauge point replaces
 * the one before it; points of different intervals are never merged.
 */

export interface TimestampedPoint {
  name: string
  /** Unix seconds, as the client sent it. */
  timestamp: number
  kind: 'counter' | 'gauge'
  /** A counter's count (its values times their inverse rates), or a gauge's value. */
  value: number
}

export interface PointLimits {
  /** Points further in the past than this (seconds before now) are refused. */
  maxPastSeconds: number
  /** Points further in the future than this are refused. */
  maxFutureSeconds: number
  /** Distinct points (name, kind, second) kept per interval; more are refused. */
  maxPoints: number
}

/** Why a timestamped value was refused (a bad-line-log reason), or null if it was kept. */
export type PointRefusal =
  | 'timestamp too old'
  | 'timestamp too far in the future'
  | 'timestamp on a timer, set or gauge delta'
  | 'too many timestamped points'
  | 'timestamped sum not finite'
  | null

export class TimestampedPoints {
  private points = new Map<string, TimestampedPoint>()
  /** This interval's values refused, and kept. */
  private refused = 0
  private accepted = 0

  constructor(private readonly limits: PointLimits) {}

  /** A counter value (already divided by its rate) or a gauge value at `timestamp`; `nowSeconds` bounds it. */
  add(name: string, kind: 'counter' | 'gauge', value: number, timestamp: number, nowSeconds: number): PointRefusal {
    const refusal = this.check(timestamp, nowSeconds)
    if (refusal !== null) return this.refuse(refusal)
    const key = kind + '\u0000' + timestamp + '\u0000' + name
    const point = this.points.get(key)
    if (point === undefined) {
      if (this.points.size >= this.limits.maxPoints) return this.refuse('too many timestamped points')
      this.points.set(key, { name, timestamp, kind, value })
    } else if (kind === 'counter') {
      const sum = point.value + value
      // A sum that overflows is refused, as the interval's counters refuse it.
      if (!Number.isFinite(sum)) return this.refuse('timestamped sum not finite')
      point.value = sum
    } else {
      point.value = value
    }
    this.accepted++
    return null
  }

  /** A value whose type takes no timestamp (timers, sets, gauge deltas). */
  refuseType(): PointRefusal {
    return this.refuse('timestamp on a timer, set or gauge delta')
  }

  /** This interval's points (oldest first) and counts; the next interval starts empty. */
  take(): { points: TimestampedPoint[]; accepted: number; refused: number } {
    const points = [...this.points.values()].sort((a, b) => a.timestamp - b.timestamp)
    const taken = { points, accepted: this.accepted, refused: this.refused }
    this.points = new Map()
    this.accepted = this.refused = 0
    return taken
  }

  /** Values refused so far this interval. */
  get refusedThisInterval(): number {
    return this.refused
  }

  private check(timestamp: number, nowSeconds: number): PointRefusal {
    if (timestamp < nowSeconds - this.limits.maxPastSeconds) return 'timestamp too old'
    if (timestamp > nowSeconds + this.limits.maxFutureSeconds) return 'timestamp too far in the future'
    return null
  }

  private refuse(reason: PointRefusal): PointRefusal {
    this.refused++
    return reason
  }
}
