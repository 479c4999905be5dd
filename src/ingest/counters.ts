/**
 * Drops and other events seen on the ingest side, read (and reset) by the
 * aggregator at each flush so that they can be logged and reported.
 */
export class IngestCounters {
  /** Packets (datagrams or stream chunks) refused because the queue was full. */
  queueDroppedPackets = 0
  queueDroppedBytes = 0
  /** Stream lines longer than maxLineBytes: cut and dropped. */
  oversizedLines = 0
  /** Stream clients disconnected for being idle too long. */
  idleTimeouts = 0
  /** Socket-level errors on client connections (reset, etc). */
  connectionErrors = 0

  /** Returns the current values and starts counting from zero again. */
  takeSnapshot(): IngestSnapshot {
    const snapshot: IngestSnapshot = {
      queueDroppedPackets: this.queueDroppedPackets,
      queueDroppedBytes: this.queueDroppedBytes,
      oversizedLines: this.oversizedLines,
      idleTimeouts: this.idleTimeouts,
      connectionErrors: this.connectionErrors,
    }
    this.queueDroppedPackets = 0
    this.queueDroppedBytes = 0
    this.oversizedLines = 0
    this.idleTimeouts = 0
    this.connectionErrors = 0
    return snapshot
  }
}

export type IngestSnapshot = Pick<
  IngestCounters,
  'queueDroppedPackets' | 'queueDroppedBytes' | 'oversizedLines' | 'idleTimeouts' | 'connectionErrors'
>
