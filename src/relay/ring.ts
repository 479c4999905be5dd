// eslint-disable-next-line @typescript-eslint/no-require-imports
import HashRing = require('hashring')

/*
 * proxy.js's hash ring, built with proxy.js's exact arguments so that Etsy
 * proxies and these relays in one fleet send a name to the same node:
 * servers "host:port" of weight 100, md5, "max cache size" = cacheSize and
 * "replicas" 0, which hashring 3.2 turns into 1.
 */
export class ProxyRing {
  private readonly ring: HashRing

  constructor(nodeIds: readonly string[], cacheSize: number) {
    this.ring = new HashRing(weighted(nodeIds), 'md5', { 'max cache size': cacheSize, replicas: 0 })
  }

  /** The node id ("host:port") for a metric name, or undefined when the ring is empty. */
  get(key: string): string | undefined {
    return this.ring.get(key)
  }

  /** proxy.js's markNodeAsHealthy and markNodeAsUnhealthy. */
  add(nodeId: string): void {
    this.ring.add(weighted([nodeId]))
  }

  remove(nodeId: string): void {
    this.ring.remove(nodeId)
  }

  /** The ids in the ring, in proxy.js's `status` order. */
  get members(): string[] {
    return this.ring.servers.map((s) => s.string)
  }
}

function weighted(nodeIds: readonly string[]): Record<string, number> {
  return Object.fromEntries(nodeIds.map((id) => [id, 100]))
}
