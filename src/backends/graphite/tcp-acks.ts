import type net from 'node:net'
import { nativeFunctions } from '../../core/native-addon'

/** linux/tcp_states.h: our FIN was acknowledged (FIN_WAIT2), or both FINs were (TIME_WAIT). */
const TCP_FIN_WAIT2 = 5
const TCP_TIME_WAIT = 6

/** What the receiver's TCP stack has acknowledged of what we sent on a connection. */
export interface TcpAcks {
  /** Our FIN acknowledged, and with it every byte before it: the receiver's kernel holds the whole flush. */
  finAcked(socket: net.Socket): boolean
  /** Bytes the receiver acknowledged so far (our FIN counts one once acknowledged); 0 once the socket is gone. */
  bytesAcked(socket: net.Socket): number
}

type TcpInfo = (fd: number, out: Float64Array) => number

function fdOf(socket: net.Socket): number {
  return (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd ?? -1
}

/**
 * TCP_INFO through the addon (native/tcp_info.c); null without it. Read by
 * polling, since no event fires for an ACK. One shared Float64Array: a poll
 * allocates nothing.
 */
export const tcpAcks: TcpAcks | null = (() => {
  const native = nativeFunctions<{ tcpInfo: TcpInfo }>(['tcpInfo'])
  if (!('addon' in native)) return null
  const info = new Float64Array(4) // state, unacknowledged segments, unsent bytes, bytes acknowledged (the SYN counts one)
  const read = (socket: net.Socket): boolean => {
    const fd = fdOf(socket)
    return fd >= 0 && native.addon.tcpInfo(fd, info) === 0
  }
  return {
    finAcked: (socket) => read(socket) && (info[0] === TCP_FIN_WAIT2 || info[0] === TCP_TIME_WAIT) && info[1] === 0 && info[2] === 0,
    bytesAcked: (socket) => (read(socket) ? Math.max(0, info[3]! - 1) : 0),
  }
})()
