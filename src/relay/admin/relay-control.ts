import type { Health, HealthState, ListenerStatus } from '../../core/server-control'
import type { NodeCounters } from '../relay-node'

/** One node as the admin plane shows it. */
export interface NodeStatus extends NodeCounters {
  id: string
  up: boolean
  /** Why it is down; empty when up. */
  reason: string
  /** Unix ms of its last change (or of start). */
  since: number
  heldLines: number
  heldBytes: number
}

export interface RelayStatus {
  version: string
  pid: number
  startedAt: number
  uptimeS: number
  configSource: string
  health: HealthState
  policy: 'rehash' | 'hold'
  forward: 'udp' | 'tcp'
  received: { packets: number; lines: number; bytes: number }
  /** Lines dropped as too long: for any datagram, or past a stream listener's maxLineBytes. */
  oversizedLines: number
  queue: { packets: number; bytes: number; droppedPackets: number; droppedBytes: number }
  listeners: ListenerStatus[]
  nodes: NodeStatus[]
  /** proxy.js's ring: the ids of the nodes up. */
  ring: string[]
}

/** Everything the relay's admin plane (console, HTTP) may see or do. */
export interface RelayControl {
  readonly health: Health
  readonly config: Readonly<Record<string, unknown>>
  readonly startedAt: number
  ringMembers(): string[]
  snapshot(): RelayStatus
}
