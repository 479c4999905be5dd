import type { Logger } from '../../log'
import { RELOADED_IN_EFFECT, type ReloadedSettings } from '../aggregator'

/*
 * "reloaded settings in effect", said once for all shards. Each shard's
 * Aggregator takes reloaded settings at its own take, which it handles a
 * little after the others, or much later if it is busy: the log must wait
 * for the last of them, or an operator (or a test) who sends lines once it
 * appears would have some judged by the old tokens. Each reload has a
 * generation number, so that a shard reporting an older reload, or one
 * reporting twice, is not counted for the newest.
 */
export class ReloadInEffect {
  private generation = 0
  /** The shards that have not yet reported the newest reload in effect. */
  private readonly waiting = new Set<number>()
  private settings: ReloadedSettings | null = null

  constructor(private readonly log: Logger) {}

  /** A reload sent to these shards; returns its generation, for them to report back. */
  begin(shards: readonly number[]): number {
    this.generation++
    this.waiting.clear()
    for (const shard of shards) this.waiting.add(shard)
    this.settings = null
    return this.generation
  }

  /** A shard has the reload of `generation` in effect (its header for the take that applied it). */
  applied(shard: number, generation: number, settings: ReloadedSettings): void {
    if (generation !== this.generation || !this.waiting.delete(shard)) return
    this.settings = settings
    this.logIfAll()
  }

  /** A shard died: the reload no longer waits for it. */
  gone(shard: number): void {
    if (this.waiting.delete(shard)) this.logIfAll()
  }

  private logIfAll(): void {
    if (this.waiting.size > 0 || this.settings === null) return
    this.log.info(this.settings, RELOADED_IN_EFFECT)
    this.settings = null
  }
}
