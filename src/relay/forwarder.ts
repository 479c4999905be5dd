/** How a node's batches leave the relay (UDP datagrams or a TCP connection). */
export interface Forwarder {
  /** "udp 127.0.0.1:8125" */
  readonly description: string
  /** Whether send() may be called: connected, for TCP. */
  readonly ready: boolean
  /** More is waiting than the node takes in (TCP only): the relay stops reading its clients until onDrain. */
  readonly congested: boolean
  /** Resolves once ready; rejects when the node cannot be reached. */
  open(): Promise<void>
  send(datagram: Buffer, lines: number): void
  close(): Promise<void>
}

export interface ForwarderEvents {
  /** Lines of batches that failed to send: lost, and counted by the caller. */
  onLost(lines: number, err: Error): void
  /** The transport broke (TCP closed or refused, UDP port unreachable): the node is down now, not at the next check. */
  onFailure(err: Error): void
  /** A congested forwarder has room again. */
  onDrain(): void
}
