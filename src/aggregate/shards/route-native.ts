import { nativeFunctions } from '../../core/native-addon'
import type { DatagramBatch } from '../../parse/packets'
import type { Router, ShardBatch } from './route'

/*
 * The router in the addon (native/statsd_route.c): one call per batch of
 * datagrams splits, hashes and copies every line, with route.ts's rule.
 */

export interface RouteAddon {
  routeLines(src: Buffer, ends: Int32Array, first: number, count: number, start: number, token: boolean, outs: Buffer[], state: Int32Array): number
  shardOfLine(buf: Buffer, start: number, end: number, token: boolean, shards: number): number
}

const STATE_FIELDS = 4

/** The addon's router functions, or why they cannot be used. */
export function nativeRouting(): { addon: RouteAddon } | { unavailable: string } {
  return nativeFunctions<RouteAddon>(['routeLines', 'shardOfLine'])
}

export class NativeRouter implements Router {
  readonly name = 'native'
  private readonly state: Int32Array
  private readonly outs: Buffer[]
  private readonly one = new Int32Array(1)

  constructor(
    private readonly addon: RouteAddon,
    private readonly batches: readonly ShardBatch[],
    private readonly tokenSources: readonly boolean[],
  ) {
    this.state = new Int32Array(batches.length * STATE_FIELDS)
    this.outs = batches.map((b) => b.bytes)
  }

  routeBatch(batch: DatagramBatch, source: number): void {
    this.routeDatagrams(batch.slab, batch.ends, batch.count, 0, source)
  }

  route(buf: Buffer, start: number, end: number, source: number): void {
    this.one[0] = end
    this.routeDatagrams(buf, this.one, 1, start, source)
  }

  private routeDatagrams(src: Buffer, ends: Int32Array, count: number, start: number, source: number): void {
    const { batches, state, outs } = this
    const token = this.tokenSources[source] === true
    let first = 0
    while (first < count) {
      // Room for the next datagram in every shard (its lines and newlines take at most its length plus one).
      const need = ends[first]! - start + 1
      for (let i = 0; i < batches.length; i++) {
        const batch = batches[i]!
        batch.ensure(need)
        batch.open(source)
        outs[i] = batch.bytes
        const at = i * STATE_FIELDS
        state[at] = batch.length
        state[at + 1] = state[at + 2] = state[at + 3] = 0
      }
      const next = this.addon.routeLines(src, ends, first, count, start, token, outs, state)
      for (let i = 0; i < batches.length; i++) {
        const at = i * STATE_FIELDS
        batches[i]!.advance(state[at]!, state[at + 1]!, state[at + 2]!, state[at + 3]!)
      }
      if (next === count) return
      // Datagram `next` might not fit in some shard's batch: room is made for it above.
      if (next > first) start = ends[next - 1]!
      first = next
    }
  }
}
