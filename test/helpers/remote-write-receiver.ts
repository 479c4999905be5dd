import { EventEmitter, once } from 'node:events'
import http from 'node:http'
import { uncompress } from 'snappyjs'
import type { Test } from 'tap'
import { WriteRequest } from '../../src/backends/remote-write/proto'

export interface DecodedSeries {
  labels: Record<string, string>
  samples: { value: number; timestamp: number }[]
  histograms: Record<string, unknown>[]
}

export interface ReceivedWrite {
  headers: http.IncomingHttpHeaders
  series: DecodedSeries[]
  /** What the receiver answered. */
  status: number
}

/** Decodes a remote write body (snappy, then protobuf) into plain series; int64s as numbers. */
export function decodeWrite(body: Buffer): DecodedSeries[] {
  const message = WriteRequest.decode(uncompress(body))
  const plain = WriteRequest.toObject(message, { longs: Number, defaults: true, arrays: true }) as {
    timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[]; histograms: Record<string, unknown>[] }[]
  }
  return plain.timeseries.map((ts) => ({
    labels: Object.fromEntries(ts.labels.map((l) => [l.name, l.value])),
    samples: ts.samples,
    histograms: ts.histograms,
  }))
}

/**
 * A remote write receiver on loopback that decodes every request and
 * answers from `script` (one status per request, then 204), emitting
 * "request" for each, so that tests await requests rather than sleep.
 */
export async function startRemoteWriteReceiver(t: Test, script: number[] = []) {
  const writes: ReceivedWrite[] = []
  const events = new EventEmitter()
  const raw: Buffer[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      raw.push(body)
      const status = script.shift() ?? 204
      writes.push({ headers: req.headers, series: decodeWrite(body), status })
      res.writeHead(status).end(status >= 400 ? `out of order sample ${writes.length}` : undefined)
      events.emit('request')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v1/write`,
    writes,
    raw,
    /** Resolves once `n` requests in all have come. */
    async requests(n: number): Promise<ReceivedWrite[]> {
      while (writes.length < n) await once(events, 'request')
      return writes
    },
  }
}
