/*
 * Per-metric state (counters, gauges and timers are in tables of columns instead). A slot is
 * "live" while it sits in its type's table; when a delete* option removes it
 * at a flush it is marked dead so that cached references (KeyEntry) know to
 * look it up again.
 */

export class SetSlot {
  readonly members = new Set<string>()
  live = true
  constructor(readonly name: string) {}
}

/** Everything known under one metric name, whatever types it was sent as. */
export class KeyEntry {
  /** Its index in the CounterTable, -1 if it has no counter. */
  counter = -1
  /** Its index in the TimerTable, -1 if it has no timer. */
  timer = -1
  /** Its index in the GaugeTable, -1 if it has no gauge. */
  gauge = -1
  set: SetSlot | null = null
  /** Values received since the last flush, whatever their type (for the busiest keys). */
  values = 0
  constructor(readonly name: string) {}

  /** True when no type still holds state under this name. */
  isEmpty(): boolean {
    return !(this.counter >= 0 || this.gauge >= 0 || this.timer >= 0 || this.set?.live)
  }
}
