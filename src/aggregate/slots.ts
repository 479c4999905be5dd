/**
 * Everything known under one metric name, whatever types it was sent as:
 * its index in each type's table (counter-table.ts, timer-table.ts,
 * gauge-table.ts, set-table.ts), -1 where it has no metric of that type.
 */
export class KeyEntry {
  /** Its index in the CounterTable, -1 if it has no counter. */
  counter = -1
  /** Its index in the TimerTable, -1 if it has no timer. */
  timer = -1
  /** Its index in the GaugeTable, -1 if it has no gauge. */
  gauge = -1
  /** Its index in the SetTable, -1 if it has no set. */
  set = -1
  /** Values received since the last flush, whatever their type (for the busiest keys). */
  values = 0
  constructor(readonly name: string) {}

  /** True when no type still holds state under this name. */
  isEmpty(): boolean {
    return !(this.counter >= 0 || this.gauge >= 0 || this.timer >= 0 || this.set >= 0)
  }
}
