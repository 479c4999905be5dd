import type { RelayConfig } from '../config/relay-schema'
import type { Logger } from '../log'
import { checkHealth } from './health-check'
import type { RelayNode } from './relay-node'
import type { Router } from './router'

/**
 * Checks every node each checkIntervalMs, as proxy.js does: a failed check
 * takes it out of the ring, a passing one puts it back (reconnecting its
 * forwarder if that broke). A node without an adminport is never asked:
 * it goes down when its transport fails and is tried again each round.
 */
export class HealthMonitor {
  private timer: NodeJS.Timeout | null = null
  private round: Promise<void> = Promise.resolve()
  private stopped = false
  private running = false

  constructor(
    private readonly router: Router,
    private readonly config: RelayConfig,
    private readonly log: Logger,
  ) {}

  /** Runs the first round now (and resolves when it is done), then one per interval. */
  start(): Promise<void> {
    this.timer = setInterval(() => this.startRound(), this.config.checkIntervalMs)
    return this.startRound()
  }

  /** A round still running when the next is due (a TCP connect waiting) is not doubled: that one is skipped. */
  private startRound(): Promise<void> {
    if (this.running) return this.round
    this.running = true
    this.round = this.checkAll().finally(() => (this.running = false))
    return this.round
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    await this.round
  }

  private async checkAll(): Promise<void> {
    await Promise.all(this.router.nodes.map((node) => this.check(node)))
  }

  private async check(node: RelayNode): Promise<void> {
    const { adminport, host } = node.config
    if (adminport === undefined) {
      // Nothing to ask: the transport alone says whether it is there (a failed send takes it down again).
      this.router.setHealthy(node, true, '')
    } else {
      const healthy = await checkHealth(this.config.healthCheck, host, adminport, this.config.checkIntervalMs)
      if (this.stopped) return
      this.router.setHealthy(node, healthy, `health check (${this.config.healthCheck} on port ${adminport}) failed`)
      if (!healthy) return
    }
    await this.connect(node)
  }

  /** Opens the forwarder if it is not (at start, or after a TCP connection broke). */
  private async connect(node: RelayNode): Promise<void> {
    if (node.forwarder.ready || this.stopped) return
    try {
      await node.forwarder.open()
    } catch (err) {
      this.log.debug({ node: node.id, err }, 'cannot reach node')
      this.router.transportFailed(node, `cannot reach ${node.forwarder.description}: ${(err as Error).message}`)
      return
    }
    this.router.transportOpened(node)
  }
}
