import type { FlushData, FlushHeader, FlushWriter } from '../aggregate/flush-data'

/** Where each flush's results go. A backend must never throw: it logs and counts its own failures. */
export interface Backend {
  /** The configured type, or "type host:port" when a server runs several of one type. */
  readonly name: string
  /**
   * Set by a backend that buckets timers' raw values (remote write, OTLP):
   * only then does a flush copy them into its parts (TimerColumns.samplesOf).
   */
  readonly wantsTimerValues?: boolean
  /** Bind what the backend serves (Prometheus); rejects with a clear error when it cannot. */
  start?(): Promise<void>
  /**
   * Takes one flush as it is computed: the parts are formatted as they come
   * (each within the flush loop's short slice), and the writer's end
   * resolves once the flush is queued, never waiting for delivery, so a slow
   * backend cannot hold up the flush loop.
   */
  beginFlush(header: FlushHeader): FlushWriter
  /** Takes one flush whole (writeWhole over beginFlush). */
  flush(data: FlushData): Promise<void>
  /** Delivery figures since start, for the admin plane and the logs. */
  stats(): BackendStats
  /** Try once more to deliver what is queued (bounded by the backend's timeout), then release everything. */
  close(): Promise<void>
  /**
   * What Etsy's backend of the same kind reports on the management console's
   * `stats` command, as [stat, value] pairs in Etsy's order; read on request.
   */
  etsyStatus?(): [string, number][]
}

export interface BackendStats {
  /** Flushes (or for the repeater, packet batches) the receiver took in full. */
  delivered: number
  /** Delivery attempts that failed or timed out. */
  failedAttempts: number
  /** Attempts that re-sent something a previous attempt had failed to deliver. */
  retries: number
  /** Undelivered bytes held right now. */
  bytesQueued: number
  /** Flushes given up on: the oldest, when the queue bound was reached, or ones the receiver rejected. */
  flushesDropped: number
  /** Undelivered flushes held right now. */
  flushesQueued: number
  /**
   * Attempts reset at their deadline after the receiver had acknowledged part
   * of what they carried, so that part is sent again and may arrive twice
   * (Graphite's TCP backend; absent elsewhere).
   */
  resentInPart?: number
  /** Unix ms of the last delivery and of the last failed attempt; 0 for never. */
  lastSuccess: number
  lastFailure: number
}
