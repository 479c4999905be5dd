import type { Logger } from '../../log'

/**
 * One log message for an event that can come in floods (refused clients,
 * accept errors): the first is logged at once, later ones at most once per
 * interval, each saying how many were not logged in between. The counters
 * sent to Graphite carry the exact numbers.
 */
export class RateLimitedLog {
  private lastLoggedAt = -Infinity
  private notLogged = 0

  constructor(
    private readonly log: Logger,
    private readonly level: 'warn' | 'error',
    private readonly msg: string,
    private readonly intervalMs = 10_000,
  ) {}

  event(fields: object): void {
    const now = Date.now()
    if (now - this.lastLoggedAt < this.intervalMs) {
      this.notLogged++
      return
    }
    this.log[this.level]({ ...fields, notLoggedSinceLast: this.notLogged }, this.msg)
    this.lastLoggedAt = now
    this.notLogged = 0
  }
}
