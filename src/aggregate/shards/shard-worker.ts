import { setImmediate as nextTurn } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import { parentPort, workerData } from 'node:worker_threads'
import { createLogger } from '../../log'
import { Aggregator } from '../aggregator'
import { SEGMENT_FIELDS } from './route'
import { encodePart, type FromShard, type Question, type ShardWorkerData, type ToShard } from './protocol'

/*
 * One shard: an Aggregator on its own thread, fed the lines of the keys
 * that hash to it (route.ts). Messages are handled in the order they were
 * sent, so a take sees exactly the lines handed over before it.
 */

/** How long computing a flush may hold this thread before the lines waiting get a turn. */
const FLUSH_SLICE_MS = 5

const data = workerData as ShardWorkerData
const log = createLogger(data.log).child({ shard: data.shard })
const aggregator = new Aggregator(data.config, log)
const pending = new Int32Array(data.pending)
const ringUsed = new Int32Array(data.ringUsed)
const answered = new Int32Array(data.answered)
const port = parentPort!
const shared = { summedCounters: new Set(data.summedCounters), firstShardGauges: new Set(data.firstShardGauges) }
/** Tests only: a shard handed a line with these bytes throws, as a bug would (see README, "workers"). */
const FAULT = process.env.STATSD_TS_TEST_SHARD_FAULT
/** Flushes run one at a time, and lines that arrive meanwhile go into the next interval. */
let flushing: Promise<void> = Promise.resolve()

port.on('message', (message: ToShard) => {
  switch (message.t) {
    case 'lines':
      return ingest(message)
    case 'take': {
      // Taken now, in message order; computed in slices after the flush before it.
      const taken = aggregator.takeInterval(message.nowMs, message.timerValues)
      send({ t: 'header', header: taken.header })
      flushing = flushing.then(async () => {
        let sliceStart = performance.now()
        const sums: Record<string, number> = {}
        for (let part = taken.nextPart(); part !== null; part = taken.nextPart()) {
          const { wire, transfer } = encodePart(part, data.shard, shared, sums)
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

function ingest({ start: at, length, skip, segments, buffer }: Extract<ToShard, { t: 'lines' }>): void {
  const [memory, base] = buffer === null ? [data.ring, at] : [buffer, 0]
  if (FAULT !== undefined && Buffer.from(memory, base, length).includes(FAULT)) throw new Error(`shard ${data.shard}: fault injected for a test`)
  let start = 0
  for (let i = 0; i < segments.length; i += SEGMENT_FIELDS) {
    const end = segments[i + 3]!
    const lines = Buffer.from(memory, base + start, end - start)
    aggregator.ingest(lines, segments[i]!, segments[i + 1]!, segments[i + 2]!, segments[i + 4]!, segments[i + 5]!)
    start = end
  }
  Atomics.sub(pending, data.shard, length)
  if (buffer === null) Atomics.sub(ringUsed, data.shard, length + skip)
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

send({ t: 'ready' })
