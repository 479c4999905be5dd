import { EventEmitter, once } from 'node:events'
import http from 'node:http'
import { uncompress } from 'snappyjs'
import type { Test } from 'tap'
import type { FlushData } from '../../src/aggregate/flush-data'
import type { TimerEntry } from '../../src/aggregate/timer-columns'
import { WriteRequest } from '../../src/backends/remote-write/proto'

/* Receivers for the HTTP push backends (remote write, OTLP), and flushes to feed them. */

export interface Received<T> {
  headers: http.IncomingHttpHeaders
  body: T
  /** What the receiver answered. */
  status: number
}

/**
 * An HTTP receiver on loopback that decodes every request body and answers
 * from `script` (one status per request, then `ok`), emitting for each, so
 * that tests await requests rather than sleep.
 */
export async function startPushReceiver<T>(t: Test, path: string, decode: (body: Buffer) => T, script: number[] = [], ok = 204) {
  const requests: Received<T>[] = []
  const events = new EventEmitter()
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const status = script.shift() ?? ok
      requests.push({ headers: req.headers, body: decode(Buffer.concat(chunks)), status })
      res.writeHead(status).end(status >= 400 ? `out of order sample ${requests.length}` : undefined)
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
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}${path}`,
    requests,
    /** Resolves once `n` requests in all have come. */
    async wait(n: number): Promise<Received<T>[]> {
      while (requests.length < n) await once(events, 'request')
      return requests
    },
  }
}

export interface DecodedSeries {
  labels: Record<string, string>
  samples: { value: number; timestamp: number }[]
  histograms: Record<string, unknown>[]
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

/** A timer as the aggregator hands it over: its statistics and its raw values (ms). */
export const timer = (name: string, values: number[], count = values.length): TimerEntry => ({
  name,
  stats: [['count', count]],
  samples: { values: Float64Array.from(values), count },
})

export const flush = (over: Partial<FlushData> = {}): FlushData => ({
  timestamp: 1_700_000_000,
  flushIntervalMs: 10_000,
  counters: [],
  timers: [],
  gauges: [],
  sets: [],
  processingTime: 1,
  selfMetrics: [],
  ...over,
})
