import { performance } from 'node:perf_hooks'
import type { StreamClient } from './clients'

/**
 * How long a busy client's data waits in the kernel between two reads. A
 * unix client writing every few hundred microseconds would otherwise wake
 * the server about once per write, and each wakeup (epoll, the context
 * switch, the read, the callbacks into JavaScript, the drain it schedules)
 * costs much more than the few lines it brings. The aggregate is the same,
 * a few milliseconds later.
 */
export const HOLD_MS = 3
/** A read this big means the kernel has a backlog: keep reading. */
export const HOLD_BELOW_BYTES = 64 * 1024
/** Reads of one held client per tick while each fills the buffer; then it is read on readiness again. */
const MAX_READS_PER_TICK = 16
/** Every PROBE_EVERY-th tick is a probe of PROBE_MS instead of HOLD_MS (see ReadHolds, "throttled"). */
const PROBE_EVERY = 8
const PROBE_MS = 1
/** A probe counts only if it was at most this fraction of the long tick it is compared with (a late timer is no probe). */
const PROBE_AT_MOST = 0.6
/**
 * A probe that brought at least this share of the long tick's bytes found
 * the client blocked. One writing at its own pace brings at most
 * PROBE_AT_MOST of them and one write more: that reaches this share only
 * for writes about a millisecond apart or more, which holding saves
 * little on anyway.
 */
const THROTTLED_SHARE = 0.85
/**
 * Less than this in a probe gives no verdict: a few writes are too coarse
 * to time. A client blocked on the default socket buffer with 6-byte lines
 * still leaves about 1.6 KiB.
 */
const THROTTLED_MIN_BYTES = 1024
/** A throttled client is read on readiness for this long, doubled each time it is caught again. */
const FIRST_REFUSAL_MS = 1_000
const MAX_REFUSAL_MS = 64_000

/** How one client fared while held (see ReadHolds, "throttled"). */
export class HoldRecord {
  /** When it was last read while held, or put on hold (performance.now()). */
  readAt = 0
  /** What its last long tick read, and how long it was (ms); 0 before one. */
  bytes = 0
  elapsed = 0
  /** Its last probe found it blocked. */
  suspect = false
  /** Not held again before this (Date.now()). */
  refusedUntil = 0
  refusalMs = FIRST_REFUSAL_MS
}

/** What ReadHolds needs from the listener's client set. */
export interface HeldClientsHost {
  /** Whether the queue has paused every client (see PacketQueue). */
  readonly paused: boolean
  /** Queues a chunk read from `client`. */
  take(client: StreamClient, chunk: Buffer): void
  end(client: StreamClient): void
  failed(client: StreamClient, err: Error): void
}

/**
 * The busy clients of one listener, read on one timer instead of on
 * readiness. A client is held when it is read again within HOLD_MS of its
 * last read. While held it is not watched at all:
 * every HOLD_MS the timer reads it directly (StreamClient.readNow), and
 * holds it again if the kernel had anything for it. A tick that finds
 * nothing, or a backlog (reads that fill the buffer), puts it back to
 * reading on readiness. So a steady client costs one wakeup and one read
 * per HOLD_MS whatever its rate and however it writes, and a client slower
 * than that is never held. A client that cannot be read directly (the
 * net.Socket fallback) is never held: a paused net.Socket goes on reading
 * each write into its own buffer, so holding it saves nothing.
 *
 * Throttled: the kernel lets a unix client queue only so much (its send
 * buffer: about 265 writes of one line by default) before its write()
 * blocks. A client writing one line per write faster than about 90k
 * writes/s would spend most of its time blocked while held, where read on
 * readiness it is never made to wait. The byte count of a read cannot tell
 * such a client from one writing the same bytes in a few big writes, but
 * time can: a blocked client's data stops growing once the buffer is full,
 * so a short tick brings as much as a long one. Every PROBE_EVERY-th tick
 * is short; a client that brought nearly as much in two probes running as
 * in the long tick before each (THROTTLED_SHARE) is let go, read on
 * readiness, and not held again for a second, then two, four... up to a
 * minute: up to about 50 ms of waiting each time.
 */
export class ReadHolds {
  private held: StreamClient[] = []
  /**
   * The tick's timer and the probe's, each made once and refreshed: a new
   * Timeout per tick cost about a third of what the tick's read did (perf).
   */
  private tickTimer: NodeJS.Timeout | null = null
  private probeTimer: NodeJS.Timeout | null = null
  private armed = false
  private ticks = 0
  /** The armed tick is a probe. */
  private probing = false
  private scratch: Buffer | null = null

  constructor(private readonly host: HeldClientsHost) {}

  /** Holds `client`, read on readiness at `now` (Date.now()), unless it was throttled not long ago. */
  hold(client: StreamClient, now: number): void {
    const record = (client.holdRecord ??= new HoldRecord())
    if (now < record.refusedUntil) return
    record.readAt = performance.now()
    record.bytes = 0
    record.suspect = false
    client.held = true
    client.stopReading()
    this.keep(client)
  }

  /** The queue let the clients go again: held ones are read on the next tick. */
  resume(): void {
    if (this.held.length > 0) this.arm()
  }

  stop(): void {
    clearTimeout(this.tickTimer ?? undefined)
    clearTimeout(this.probeTimer ?? undefined)
    this.tickTimer = this.probeTimer = null
    this.armed = false
  }

  private keep(client: StreamClient): void {
    client.held = true
    this.held.push(client)
    this.arm()
  }

  private arm(): void {
    if (this.armed) return
    this.armed = true
    this.probing = ++this.ticks % PROBE_EVERY === 0
    if (this.probing) (this.probeTimer ??= this.timer(PROBE_MS)).refresh()
    else (this.tickTimer ??= this.timer(HOLD_MS)).refresh()
  }

  private timer(ms: number): NodeJS.Timeout {
    return setTimeout(() => this.tick(), ms).unref()
  }

  private tick(): void {
    this.armed = false
    // Paused, they stay held; resume() starts the timer again.
    if (this.host.paused) return
    const held = this.held
    this.held = []
    const now = Date.now()
    const at = performance.now()
    for (const client of held) {
      client.held = false
      if (!client.ended) this.read(client, now, at)
    }
  }

  private read(client: StreamClient, now: number, at: number): void {
    // One buffer for every read: a chunk is copied out at its size, so a queued chunk never pins 64 KiB.
    const scratch = (this.scratch ??= Buffer.allocUnsafeSlow(HOLD_BELOW_BYTES))
    let bytes = 0
    for (let reads = 0; reads < MAX_READS_PER_TICK; reads++) {
      let n: number
      try {
        n = client.readNow(scratch)
      } catch (err) {
        this.host.failed(client, err as Error)
        return
      }
      if (n < 0) {
        // Nothing came for HOLD_MS: no longer busy.
        client.startReading()
        return
      }
      if (n === 0) {
        this.host.end(client)
        return
      }
      bytes += n
      const chunk = Buffer.allocUnsafeSlow(n)
      scratch.copy(chunk, 0, 0, n)
      this.host.take(client, chunk)
      // Paused by that chunk: resume() starts reading it (it is not held).
      if (this.host.paused || client.ended) return
      if (n < scratch.length) {
        if (this.throttled(client.holdRecord!, bytes, at, now)) {
          client.startReading()
          return
        }
        client.lastReadAt = now
        this.keep(client)
        return
      }
    }
    client.startReading()
  }

  /** Whether `bytes`, read at `at` (performance.now()), show the client blocked by its hold (see the class comment). */
  private throttled(record: HoldRecord, bytes: number, at: number, now: number): boolean {
    const elapsed = at - record.readAt
    record.readAt = at
    if (!this.probing) {
      record.bytes = bytes
      record.elapsed = elapsed
      return false
    }
    if (record.bytes === 0 || elapsed > PROBE_AT_MOST * record.elapsed || bytes < THROTTLED_MIN_BYTES) return false
    // One probe can be fooled: a client that stalled in the long tick and caught up in one big write in the probe.
    const wasSuspect = record.suspect
    record.suspect = bytes >= THROTTLED_SHARE * record.bytes
    if (!record.suspect || !wasSuspect) return false
    record.refusedUntil = now + record.refusalMs
    record.refusalMs = Math.min(2 * record.refusalMs, MAX_REFUSAL_MS)
    return true
  }
}
