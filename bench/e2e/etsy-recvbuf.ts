import dgram from 'node:dgram'

/*
 * Preloaded into Etsy statsd (node -r) by bench:e2e: Etsy has no setting for
 * the UDP receive buffer, and the comparison is only fair with the same one.
 */
const size = Number(process.env.BENCH_RECV_BUFFER)
const bind = dgram.Socket.prototype.bind
dgram.Socket.prototype.bind = function (this: dgram.Socket, ...args: unknown[]) {
  this.once('listening', () => this.setRecvBufferSize(size))
  return (bind as (...a: unknown[]) => dgram.Socket).apply(this, args)
} as typeof bind
