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
 */
export class ReadHolds {
  private held: StreamClient[] = []
  /** Made once and refreshed: a new Timeout per tick cost about a third of what the tick's read did (perf). */
  private timer: NodeJS.Timeout | null = null
  private armed = false
  private scratch: Buffer | null = null

  constructor(private readonly host: HeldClientsHost) {}

  hold(client: StreamClient): void {
    client.held = true
    client.stopReading()
    this.keep(client)
  }

  /** The queue let the clients go again: held ones are read on the next tick. */
  resume(): void {
    if (this.held.length > 0) this.arm()
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
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
    if (this.timer === null) this.timer = setTimeout(() => this.tick(), HOLD_MS).unref()
    else this.timer.refresh()
  }

  private tick(): void {
    this.armed = false
    // Paused, they stay held; resume() starts the timer again.
    if (this.host.paused) return
    const held = this.held
    this.held = []
    const now = Date.now()
    for (const client of held) {
      client.held = false
      if (!client.ended) this.read(client, now)
    }
  }

  private read(client: StreamClient, now: number): void {
    // One buffer for every read: a chunk is copied out at its size, so a queued chunk never pins 64 KiB.
    const scratch = (this.scratch ??= Buffer.allocUnsafeSlow(HOLD_BELOW_BYTES))
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
      const chunk = Buffer.allocUnsafeSlow(n)
      scratch.copy(chunk, 0, 0, n)
      this.host.take(client, chunk)
      // Paused by that chunk: resume() starts reading it (it is not held).
      if (this.host.paused || client.ended) return
      if (n < scratch.length) {
        client.lastReadAt = now
        this.keep(client)
        return
      }
    }
    client.startReading()
  }
}
