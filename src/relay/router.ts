import type { Logger } from '../log'
import type { RelayConfig } from '../config/relay-schema'
import { RawKeyCache } from '../aggregate/raw-key-cache'
import { findKey, type KeyRange } from './line-key'
import type { RelayNode } from './relay-node'
import { ProxyRing } from './ring'

/** Replay of held lines: this many batches per timer tick, so a returning node's socket buffer is not flooded. */
const REPLAY_BATCHES_PER_TICK = 16
const REPLAY_TICK_MS = 1
/** Names whose home node is remembered by their bytes (at least cacheSize). */
const HOMES_CACHED = 100_000

/**
 * Sends each line to the node its name hashes to on the full ring (every
 * configured node: where the name lives). When that node is down, the
 * policy decides: "rehash" sends the line where proxy.js would, on the ring
 * of the nodes that are up; "hold" keeps it for the node and replays it,
 * in order, when the node returns.
 */
export class Router {
  private readonly home: ProxyRing
  /** proxy.js's ring: the nodes up now. */
  private readonly live: ProxyRing
  private readonly byId = new Map<string, RelayNode>()
  private readonly hold: boolean
  private readonly replays = new Map<RelayNode, NodeJS.Timeout>()
  /**
   * Name bytes -> home node, so that a name seen before costs no string and
   * no md5: the home ring never changes. Cleared past its bound (names that
   * never repeat must not grow it without end).
   */
  private readonly homes = new RawKeyCache<RelayNode>()
  private readonly homesMax: number
  private readonly key: KeyRange = { start: 0, end: 0 }
  /** Lines too long for any datagram. */
  oversizedLines = 0

  constructor(
    readonly nodes: readonly RelayNode[],
    config: RelayConfig,
    private readonly log: Logger,
  ) {
    const ids = nodes.map((n) => n.id)
    this.home = new ProxyRing(ids, config.cacheSize)
    this.live = new ProxyRing(ids, config.cacheSize)
    for (const node of nodes) this.byId.set(node.id, node)
    this.hold = config.downPolicy === 'hold'
    this.homesMax = Math.max(config.cacheSize, HOMES_CACHED)
  }

  /** The ids of the nodes in the ring now (proxy.js's `status`). */
  get liveMembers(): string[] {
    return this.live.members
  }

  /** Routes line buf[start, end) (without its newline; not empty). */
  route(buf: Buffer, start: number, end: number): void {
    const k = this.key
    findKey(buf, start, end, k)
    let home = this.homes.get(buf, k.start, k.end, 0, 0)
    if (home === undefined) {
      home = this.byId.get(this.home.get(buf.toString('utf8', k.start, k.end))!)!
      if (this.homes.size >= this.homesMax) this.homes.clear()
      this.homes.set(buf, k.start, k.end, 0, 0, home)
    }
    if (home.up && home.outbox.empty) {
      if (home.batch.add(buf, start, end)) home.counters.forwarded++
      else this.oversizedLines++
      return
    }
    if (this.hold) {
      if (home.holdBatch.add(buf, start, end)) home.counters.held++
      else this.oversizedLines++
      return
    }
    const targetId = this.live.get(buf.toString('utf8', k.start, k.end))
    if (targetId === undefined) {
      home.counters.dropped++
      return
    }
    if (this.byId.get(targetId)!.batch.add(buf, start, end)) home.counters.rehashed++
    else this.oversizedLines++
  }

  /** Hands every partial batch on: called after each drain of the queue. */
  flush(): void {
    for (const node of this.nodes) {
      node.batch.flush()
      node.holdBatch.flush()
    }
  }

  /** Whether any node's forwarder is past its high-water mark. */
  get congested(): boolean {
    for (const node of this.nodes) if (node.forwarder.congested) return true
    return false
  }

  /** A health check's verdict. */
  setHealthy(node: RelayNode, healthy: boolean, reason: string): void {
    node.healthy = healthy
    if (!healthy) node.reason = reason
    this.sync(node)
  }

  /** The transport broke, or could not be opened: down until a check passes and it reconnects. */
  transportFailed(node: RelayNode, reason: string): void {
    this.setHealthy(node, false, reason)
  }

  /** The forwarder (re)connected. */
  transportOpened(node: RelayNode): void {
    this.sync(node)
  }

  /** Puts the ring in line with whether the node is up. */
  private sync(node: RelayNode): void {
    if (node.up === node.inRing) return
    node.inRing = node.up
    node.since = Date.now()
    // Lines routed before the change go out under the old state.
    this.flush()
    if (node.up) {
      node.reason = ''
      this.live.add(node.id)
      this.log.warn({ node: node.id, held: node.outbox.lines }, 'node is up: back in the ring')
      this.replay(node)
    } else {
      this.live.remove(node.id)
      this.log.warn({ node: node.id, reason: node.reason, policy: this.hold ? 'hold' : 'rehash' }, 'node is down: out of the ring')
    }
  }

  /** Sends a returned node's held lines, a few batches per tick, while it stays up and takes them. */
  replay(node: RelayNode): void {
    if (this.replays.has(node) || node.outbox.empty) return
    const tick = (): void => {
      this.replays.delete(node)
      for (let i = 0; i < REPLAY_BATCHES_PER_TICK && node.up && !node.forwarder.congested; i++) {
        const held = node.outbox.shift()
        if (held === undefined) break
        node.forwarder.send(held.datagram, held.lines)
        node.counters.replayed += held.lines
      }
      // A congested forwarder resumes the replay from its drain event.
      if (node.up && !node.outbox.empty && !node.forwarder.congested) this.replays.set(node, setTimeout(tick, REPLAY_TICK_MS))
    }
    this.replays.set(node, setTimeout(tick, 0))
  }

  /** Stops replays; what is still held stays counted as held. */
  stop(): void {
    for (const timer of this.replays.values()) clearTimeout(timer)
    this.replays.clear()
  }
}
