import { type BadLineReason, DogStatsdLine, type MetricType } from '../../src/parse/packet-parser'

/**
 * The parser-sink calls every parser test records the same way, as arrays
 * in `calls` (a metric's kind, key and values; bad and event lines as their
 * text; a timestamped value as its key, type, value, rate or delta flag and
 * time). Each test adds how it names keys and what it records of lines and
 * unknown fields.
 */
export abstract class RecordingSink {
  calls: unknown[][] = []
  onBadLine(buf: Buffer, start: number, end: number, reason: BadLineReason): void {
    this.calls.push(['bad', buf.toString('latin1', start, end), reason])
  }
  onEventLine(buf: Buffer, start: number, end: number, kind: DogStatsdLine): void {
    this.calls.push([kind === DogStatsdLine.Event ? 'event' : 'check', buf.toString('latin1', start, end)])
  }
  onCounter(key: string, value: number, rate: number): void {
    this.calls.push(['c', key, value, rate])
  }
  onTimer(key: string, value: number, rate: number, histogram: boolean): void {
    this.calls.push([histogram ? 'h' : 'ms', key, value, rate])
  }
  onGauge(key: string, value: number, isDelta: boolean): void {
    this.calls.push(['g', key, value, isDelta])
  }
  onSet(key: string, buf: Buffer, start: number, end: number): void {
    this.calls.push(['s', key, buf.toString('latin1', start, end)])
  }
  onTimestamped(key: string, type: MetricType, value: number, extra: number, timestamp: number): void {
    this.calls.push(['T', key, type, value, extra, timestamp])
  }
}

/** A RecordingSink that counts lines, as the addon's fast path reports them (onLines) and the JavaScript parser (onLine). */
export abstract class LineCountingSink extends RecordingSink {
  lines = 0
  onLine(): void {
    this.lines++
  }
  onLines(count: number): void {
    this.lines += count
  }
}
