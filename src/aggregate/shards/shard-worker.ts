// First: V8's young generation is kept small in this isolate as on the main thread (heap-policy.ts).
import '../../core/heap-policy'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import { parentPort, workerData } from 'node:worker_threads'
import { nativeFunctions } from '../../core/native-addon'
import { createLogger } from '../../log'
import { Aggregator, type ReloadedSettings } from '../aggregator'
import { SEGMENT_FIELDS } from './route'
import { encodePart, type FromShard, type Question, type ShardWorkerData, type ToShard } from './protocol'
import { LaneReader } from './lanes'
import { PartsAhead } from './parts-ahead'

/*
 * One shard: an Aggregator on its own thread, fed the lines of the keys
 * that hash to it (route.ts). Messages are handled in the order they were
 * sent, so a take sees exactly the lines handed over before it.
 */

/** How long computing a flush may hold this thread before the lines waiting get a turn. */
const FLUSH_SLICE_MS = 5

const data = workerData as ShardWorkerData
const log = createLogger(data.log).child({ shard: data.shard })
/** The newest reload received, and its settings once a take has put it in effect: the main thread logs it (reload-in-effect.ts). */
let reloadGeneration = 0
let reloaded: ReloadedSettings | null = null
const aggregator = new Aggregator(data.config, log, (settings) => (reloaded = settings))
const pending = new Int32Array(data.pending)
const ringUsed = new Int32Array(data.ringUsed)
const answered = new Int32Array(data.answered)
const ahead = new PartsAhead(new Int32Array(data.partsAhead), data.shard)
const port = parentPort!
const shared = { summedCounters: new Set(data.summedCounters), firstShardGauges: new Set(data.firstShardGauges) }
/** Tests only: a shard handed a line with these bytes throws, as a bug would (see README, "workers"). */
const FAULT = process.env.STATSD_TS_TEST_SHARD_FAULT
/** Tests only: "<bytes>:<ms>": a shard handed a line with these bytes busy-loops that long, as a long flush or GC pause would. */
const [STALL_ON, STALL_MS] = (process.env.STATSD_TS_TEST_SHARD_STALL ?? '').split(':')
/** The datagram reader threads' lanes to this shard, read when its doorbell rings. */
const lanes = new LaneReader()
const doorbell = openDoorbell()
/** Flushes run one at a time, and lines that arrive meanwhile go into the next interval. */
let flushing: Promise<void> = Promise.resolve()

port.on('message', (message: ToShard) => {
  // Lines the readers published before this message belong before it (a take, a question).
  if (message.t !== 'lines') drainLanes()
  switch (message.t) {
    case 'lines':
      return ingest(message)
    case 'lane':
      lanes.add(message.lane)
      return drainLanes()
    case 'take': {
      // Taken now, in message order; computed in slices after the flush before it.
      const taken = aggregator.takeInterval(message.nowMs, message.timerValues)
      if (reloaded === null) send({ t: 'header', header: taken.header })
      else send({ t: 'header', header: taken.header, reloaded: { generation: reloadGeneration, settings: reloaded } })
      reloaded = null
      // The lines the readers routed after the take's instant, held back until now.
      lanes.startInterval(message.epoch)
      drainLanes()
      flushing = flushing.then(async () => {
        let sliceStart = performance.now()
        const sums: Record<string, number> = {}
        ahead.restart()
        for (;;) {
          // Only a few parts ahead of the main thread (parts-ahead.ts).
          await ahead.room()
          const part = taken.nextPart()
          if (part === null) break
          const { wire, transfer } = encodePart(part, data.shard, shared, sums)
          ahead.posted()
          port.postMessage({ t: 'part', part: wire } satisfies FromShard, transfer)
          if (performance.now() - sliceStart >= FLUSH_SLICE_MS) {
            await nextTurn()
            sliceStart = performance.now()
          }
        }
        send({ t: 'done', trailer: taken.finish(), sums })
      })
      return
    }
    case 'badLines':
      return aggregator.addBadLines(message.count)
    case 'reconfigure':
      reloadGeneration = message.generation
      return aggregator.reconfigure(message.config)
    case 'describe':
      return aggregator.describeListeners(message.descriptions)
    case 'ask':
      data.syncPort.postMessage(answer(message.question))
      Atomics.store(answered, data.shard, 1)
      Atomics.notify(answered, data.shard)
      return
  }
})

/** The main thread's ring (ring.ts), as a Buffer once: a hand-off's segments are read in place. */
const ring = Buffer.from(data.ring)

function ingest({ start: at, length, skip, segments, buffer }: Extract<ToShard, { t: 'lines' }>): void {
  const [memory, base] = buffer === null ? [ring, at] : [Buffer.from(buffer), 0]
  let start = base
  for (let i = 0; i < segments.length; i += SEGMENT_FIELDS) {
    const end = base + segments[i + 3]!
    ingestLines(memory, start, end, segments[i]!, segments[i + 1]!, segments[i + 2]!, segments[i + 4]!, segments[i + 5]!)
    start = end
  }
  Atomics.sub(pending, data.shard, length)
  if (buffer === null) Atomics.sub(ringUsed, data.shard, length + skip)
}

function ingestLines(buf: Buffer, start: number, end: number, source: number, packets: number, bytes: number, pid: number, uid: number): void {
  if (FAULT !== undefined && buf.subarray(start, end).includes(FAULT)) throw new Error(`shard ${data.shard}: fault injected for a test`)
  if (STALL_ON && buf.subarray(start, end).includes(STALL_ON)) for (const until = Date.now() + Number(STALL_MS); Date.now() < until; );
  aggregator.ingestLines(buf, start, end, source, packets, bytes, pid, uid)
}

function drainLanes(): void {
  lanes.drain(ingestLines)
}

/** This thread's doorbell (native/statsd_doorbell.c), which the reader threads ring; -1 without the addon (the main thread then routes). */
function openDoorbell(): number {
  const native = nativeFunctions<{ openDoorbell(onRing: () => void): number }>(['openDoorbell'])
  return 'addon' in native ? native.addon.openDoorbell(drainLanes) : -1
}

function answer(question: Question): unknown {
  switch (question.what) {
    case 'tables':
      return aggregator.tables()
    case 'inspect':
      return aggregator.inspect()
    case 'listenerTotals':
      return aggregator.listenerTotals()
    case 'deleteMatching':
      return aggregator.deleteMatching(question.type, question.pattern)
  }
}

function send(message: FromShard): void {
  port.postMessage(message)
}

send({ t: 'ready', doorbell })
