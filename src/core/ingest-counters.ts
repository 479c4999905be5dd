/**
 * Drops and other events seen on the ingest side, read (and reset) by the
 * aggregator at each flush so that they can be logged and reported.
 */
export class IngestCounters {
  /** Datagrams refused because the queue was full. */
  queueDroppedPackets = 0
  queueDroppedBytes = 0
  /** Times stream reading was paused because the queue passed its high-water mark. */
  streamPauses = 0
  /** Stream lines longer than maxLineBytes: cut and dropped. */
  oversizedLines = 0
  /** Stream clients disconnected for being idle too long. */
  idleTimeouts = 0
  /** Socket-level errors on client connections (reset, etc). */
  connectionErrors = 0
  /** Stream clients closed at once because the listener had maxConnections open. */
  refusedConnections = 0
  /** accept() failures (out of file descriptors, etc). */
  acceptErrors = 0
  /** Stream clients still sending when the shutdown time ran out, then disconnected. */
  shutdownDisconnects = 0
  /** TLS clients that failed or ran out of time in their handshake; undefined without a TLS listener. */
  tlsHandshakeFailures: number | undefined = undefined
  /** Datagrams the kernel dropped, per UDP listener ("127_0_0_1_8125"). */
  readonly udpKernelDrops = new Map<string, number>()

  /** Called first by every takeSnapshot(): sources polled at flush time (the kernel's counters). */
  private readonly pollers = new Set<() => void>()

  /** Registers `poll` to run before each snapshot; returns how to unregister it. */
  addPoller(poll: () => void): () => void {
    this.pollers.add(poll)
    return () => this.pollers.delete(poll)
  }

  /** Returns the current values and starts counting from zero again. */
  takeSnapshot(): IngestSnapshot {
    for (const poll of this.pollers) poll()
    const snapshot: IngestSnapshot = {
      queueDroppedPackets: this.queueDroppedPackets,
      queueDroppedBytes: this.queueDroppedBytes,
      streamPauses: this.streamPauses,
      oversizedLines: this.oversizedLines,
      idleTimeouts: this.idleTimeouts,
      connectionErrors: this.connectionErrors,
      refusedConnections: this.refusedConnections,
      acceptErrors: this.acceptErrors,
      shutdownDisconnects: this.shutdownDisconnects,
      tlsHandshakeFailures: this.tlsHandshakeFailures,
      udpKernelDrops: new Map(this.udpKernelDrops),
    }
    this.queueDroppedPackets = 0
    this.queueDroppedBytes = 0
    this.streamPauses = 0
    this.oversizedLines = 0
    this.idleTimeouts = 0
    this.connectionErrors = 0
    this.refusedConnections = 0
    this.acceptErrors = 0
    this.shutdownDisconnects = 0
    if (this.tlsHandshakeFailures !== undefined) this.tlsHandshakeFailures = 0
    for (const key of this.udpKernelDrops.keys()) this.udpKernelDrops.set(key, 0)
    return snapshot
  }
}

export type IngestSnapshot = Pick<
  IngestCounters,
  | 'queueDroppedPackets'
  | 'queueDroppedBytes'
  | 'streamPauses'
  | 'oversizedLines'
  | 'idleTimeouts'
  | 'connectionErrors'
  | 'refusedConnections'
  | 'acceptErrors'
  | 'shutdownDisconnects'
  | 'tlsHandshakeFailures'
  | 'udpKernelDrops'
>
