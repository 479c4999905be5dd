import type { FlushData } from '../aggregate/flush-data'
import type { BackendStatus } from '../core/server-control'

/** Where each flush's results go. A backend must never throw: it logs and counts its own failures. */
export interface Backend {
  readonly name: string
  flush(data: FlushData): Promise<void>
  /** Finish or abandon work in progress and release resources. */
  close(): Promise<void>
  /** Delivery figures for the admin plane; read on request, never per flush. */
  status?(): BackendStatus
}
