import { z } from 'zod'
import { MAX_UDP_PAYLOAD } from '../core/udp-payload'

/*
 * Relay mode (`relay` in a native config, or an Etsy proxy config with
 * `nodes`): instead of aggregating, the server sends every line to one
 * aggregating node chosen by the line's metric name, on the same hash ring
 * as Etsy's proxy.js. See src/relay/.
 */

const port = z.number().int().min(0).max(65535)
const positiveInt = z.number().int().positive()

export { MAX_UDP_PAYLOAD }

const node = z.strictObject({
  host: z.string().min(1),
  port: port.refine((p) => p > 0, 'a node needs a real port, not 0'),
  /** Where the node answers health checks (its management console, or its admin HTTP for healthCheck "http"); unset: never checked. */
  adminport: port.optional(),
})

export const relaySchema = z
  .strictObject({
    nodes: z.array(node).min(1, 'at least one node is required'),
    /** "mgmt": proxy.js's `health` command on adminport; "http": GET /healthz on adminport. */
    healthCheck: z.enum(['mgmt', 'http']).default('mgmt'),
    /** proxy.js's checkInterval; a check that takes longer fails. */
    checkIntervalMs: positiveInt.default(10_000),
    /** proxy.js's cacheSize: the hash ring's cache of name -> node answers. */
    cacheSize: positiveInt.default(10_000),
    /** What happens to a down node's lines: "rehash" (proxy.js) sends them to the remaining nodes, "hold" keeps them until it returns. */
    downPolicy: z.enum(['rehash', 'hold']).default('rehash'),
    /** Bytes of lines held per down node (policy "hold"); past this the oldest are dropped, counted. */
    holdMaxBytes: positiveInt.default(64 * 1024 * 1024),
    /** How lines reach the nodes: UDP datagrams (proxy.js) or one TCP connection per node. */
    forward: z.enum(['udp', 'tcp']).default('udp'),
    /** Largest datagram (or TCP write) of batched lines; 1432 fits a 1500-byte path MTU. */
    maxDatagramBytes: z.number().int().min(64).max(MAX_UDP_PAYLOAD).default(1432),
    /** TCP: bytes waiting on one node's connection before the relay stops reading its clients. */
    tcpHighWaterBytes: positiveInt.default(4 * 1024 * 1024),
  })
  .superRefine((relay, ctx) => {
    const seen = new Set<string>()
    relay.nodes.forEach((n, i) => {
      const id = `${n.host}:${n.port}`
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['nodes', i], message: `node ${id} is listed twice` })
      seen.add(id)
    })
  })

export type RelayConfig = z.output<typeof relaySchema>
export type RelayNodeConfig = RelayConfig['nodes'][number]
