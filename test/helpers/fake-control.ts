import { Health, type MetricTables, type MetricType, type ServerControl, type StatusSnapshot } from '../../src/core/server-control'

/** A ServerControl with hand-set figures, for testing the admin plane without a server. */
export class FakeControl implements ServerControl {
  readonly health = new Health()
  readonly config = { flushInterval: 10_000, prefixStats: 'statsd', queue: { maxBytes: 10, maxPackets: 5 } }
  readonly deleted: [MetricType, string][] = []
  tablesNow: MetricTables = {
    counters: new Map([
      ['statsd.bad_lines_seen', 0],
      ['api.hits', 3],
      ['api.errors', 1],
      ['web.hits', 2],
    ]),
    timers: new Map([['api.latency', [5, 10]]]),
    gauges: new Map([['queue.depth', 7]]),
    sets: new Map([['users', ['alice', 'bob']]]),
  }
  snap: StatusSnapshot = {
    info: {
      name: 'statsd-ts',
      version: '1.2.3',
      commit: 'abc123',
      node: 'v20.0.0',
      pid: 42,
      startedAt: Date.parse('2026-01-01T00:00:00Z'),
      configSource: '/etc/statsd/<config>.js',
      configFormat: 'etsy',
      flushIntervalMs: 10_000,
    },
    uptimeS: 3725,
    health: this.health.current,
    ready: { ready: true, reasons: [] },
    queue: { packets: 3, bytes: 120, maxPackets: 5, maxBytes: 10 },
    aggregator: {
      packets: 1000,
      lines: 2500,
      bytes: 64000,
      badLines: 4,
      badLinesByReason: { 'bad value': 3, 'no type': 1 },
      recentBadLines: [{ at: Date.parse('2026-01-01T01:00:00Z'), reason: 'bad value', line: 'x:<script>|c' }],
      keys: { counters: 4, timers: 1, gauges: 1, sets: 1 },
      busiestKeys: [
        { name: 'api.hits', values: 900 },
        { name: 'web.hits', values: 20 },
      ],
      lastFlushMs: 1.5,
      events: {
        received: 2,
        rateLimited: 1,
        recent: [{ title: 'Deploy <b>', text: 'v2\nrolled out', timestamp: 1700000000, priority: 'normal', alertType: 'info', tags: ['env:prod'] }],
      },
      serviceChecks: { received: 1, rateLimited: 0, recent: [{ name: 'db.up', status: 2, timestamp: 1700000000, tags: [], message: 'down <now>' }] },
    },
    selfTotals: { 'queue.dropped_packets': 6, 'some.new_figure': 2 },
    listeners: [{ description: 'udp 127.0.0.1:8125', bound: true }],
    backends: [
      {
        name: 'graphite',
        target: '127.0.0.1:2003',
        lastSuccess: Date.parse('2026-01-01T01:02:00Z'),
        lastFailure: 0,
        flushesSent: 370,
        flushesFailed: 2,
        flushesRetried: 2,
        flushesResentInPart: 0,
        flushesDropped: 0,
        undeliveredFlushes: 0,
        undeliveredBytes: 0,
        etsyStatus: [
          ['last_flush', 100],
          ['flush_time', 3],
        ],
      },
    ],
    flushes: [
      { at: Date.parse('2026-01-01T01:02:00Z'), durationMs: 1.5, lagMs: 2, packets: 100, lines: 250, bytes: 6400, badLines: 1, selfMetrics: {} },
      { at: Date.parse('2026-01-01T01:02:10Z'), durationMs: 0.02, lagMs: 3, packets: 50, lines: 120, bytes: 3200, badLines: 0, selfMetrics: {} },
    ],
    lastMessageSeen: Date.now() - 5000,
  }

  snapshot(): StatusSnapshot {
    return { ...this.snap, health: this.health.current }
  }

  tables(): MetricTables {
    return this.tablesNow
  }

  deleteMatching(type: MetricType, pattern: string): string[] {
    this.deleted.push([type, pattern])
    const table = this.tablesNow[type] as Map<string, unknown>
    const names = [...table.keys()].filter((n) => n === pattern || (pattern.endsWith('.*') && n.startsWith(pattern.slice(0, -1))))
    for (const n of names) table.delete(n)
    return names
  }
}
