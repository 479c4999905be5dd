import t, { type Test } from 'tap'
import { EventEmitter, once } from 'node:events'
import { type Deliver, GrowingPayload, itemsOf, Outbox, type OutboxOptions, type Payload, Undeliverable } from '../src/backends/outbox'
import { silentLogger } from '../src/log'

/* The outbox alone: a scripted receiver instead of a socket. */

function payload(text: string): Payload {
  const buf = Buffer.from(text)
  return { chunks: [buf], bytes: buf.length }
}

const text = (p: Payload): string => Buffer.concat(p.chunks).toString()

/** A receiver whose answer to each attempt the test decides. */
class ScriptedReceiver extends EventEmitter {
  readonly attempts: { payloads: string[]; at: number; signal: AbortSignal; settle: (err?: Error) => void }[] = []
  readonly delivered: string[] = []
  deliver = (payloads: readonly Payload[], signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const names = payloads.map(text)
      const settle = (err?: Error): void => {
        if (err === undefined) {
          this.delivered.push(...names)
          resolve()
        } else reject(err)
      }
      this.attempts.push({ payloads: names, at: Date.now(), signal, settle })
      this.emit('attempt', this.attempts.length)
    })

  async nthAttempt(n: number): Promise<ScriptedReceiver['attempts'][number]> {
    while (this.attempts.length < n) await once(this, 'attempt')
    return this.attempts[n - 1]!
  }
}

function outboxFor(t: Test, deliver: Deliver, opts: Partial<OutboxOptions>): Outbox {
  // The outbox's timers are unref'd (they never keep a server alive); the test must stay alive for them.
  const keepAlive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(keepAlive))
  return new Outbox(deliver, { maxBytes: 1000, timeoutMs: 5_000, retryInitialMs: 20, retryMaxMs: 1_000, batchBytes: Infinity, connections: 1, ...opts }, silentLogger())
}

function setup(t: Test, opts: Partial<OutboxOptions> = {}) {
  const receiver = new ScriptedReceiver()
  return { receiver, outbox: outboxFor(t, receiver.deliver, opts) }
}

t.test('one attempt at a time; what queued meanwhile goes together in the next one', async (t) => {
  const { receiver, outbox } = setup(t)
  outbox.push(payload('a'))
  outbox.push(payload('b'))
  outbox.push(payload('c'))
  const first = await receiver.nthAttempt(1)
  t.strictSame(first.payloads, ['a'])
  t.equal(receiver.attempts.length, 1, 'b and c wait for a')
  t.equal(outbox.stats().bytesQueued, 3)
  first.settle()
  const second = await receiver.nthAttempt(2)
  t.strictSame(second.payloads, ['b', 'c'])
  second.settle()
  await new Promise(setImmediate)
  t.match(outbox.stats(), { delivered: 3, failedAttempts: 0, retries: 0, flushesDropped: 0, bytesQueued: 0 })
})

t.test('batchBytes limits one attempt, but never below one payload', async (t) => {
  const { receiver, outbox } = setup(t, { batchBytes: 5 })
  outbox.push(payload('xxxxxxxx'))
  outbox.push(payload('ab'))
  outbox.push(payload('cd'))
  outbox.push(payload('ef'))
  ;(await receiver.nthAttempt(1)).settle()
  const second = await receiver.nthAttempt(2)
  t.strictSame(second.payloads, ['ab', 'cd'])
})

t.test('a failed attempt is retried after a backoff that doubles, in the original order', async (t) => {
  const { receiver, outbox } = setup(t, { retryInitialMs: 30, retryMaxMs: 60 })
  outbox.push(payload('a'))
  const a1 = await receiver.nthAttempt(1)
  outbox.push(payload('b'))
  a1.settle(new Error('ECONNREFUSED'))
  const a2 = await receiver.nthAttempt(2)
  t.strictSame(a2.payloads, ['a', 'b'], 'the failed flush goes first')
  t.ok(a2.at - a1.at >= 25, 'waited for the first backoff')
  a2.settle(new Error('ECONNREFUSED'))
  const a3 = await receiver.nthAttempt(3)
  t.ok(a3.at - a2.at >= 55, 'the backoff doubled')
  a3.settle(new Error('ECONNREFUSED'))
  const a4 = await receiver.nthAttempt(4)
  t.ok(a4.at - a3.at < 120 + 60, 'the backoff stops at retryMaxMs')
  a4.settle()
  await new Promise(setImmediate)
  t.strictSame(receiver.delivered, ['a', 'b'])
  t.match(outbox.stats(), { delivered: 2, failedAttempts: 3, retries: 5, flushesDropped: 0, bytesQueued: 0 })
  // A success resets the backoff.
  outbox.push(payload('c'))
  const a5 = await receiver.nthAttempt(5)
  a5.settle(new Error('reset'))
  const a6 = await receiver.nthAttempt(6)
  t.ok(a6.at - a5.at < 55, 'back to the first backoff after a success')
  a6.settle()
})

t.test('connections > 1: each first attempt starts at once on its own, up to the bound; a stuck one holds up nothing', async (t) => {
  const { receiver, outbox } = setup(t, { connections: 2 })
  outbox.push(payload('a'))
  outbox.push(payload('b'))
  outbox.push(payload('c'))
  const [a, b] = [await receiver.nthAttempt(1), await receiver.nthAttempt(2)]
  t.strictSame([a.payloads, b.payloads], [['a'], ['b']], 'a and b each on a connection of its own')
  t.equal(receiver.attempts.length, 2, 'c waits at the bound')
  t.match(outbox.stats(), { flushesQueued: 3, bytesQueued: 3 })
  b.settle()
  const c = await receiver.nthAttempt(3)
  t.strictSame(c.payloads, ['c'], 'c goes once b is done, while a is still stuck')
  c.settle()
  a.settle()
  await new Promise(setImmediate)
  t.match(outbox.stats(), { delivered: 3, failedAttempts: 0, flushesQueued: 0, bytesQueued: 0 })
})

t.test('connections > 1: failed flushes go again together, in their order, one attempt at a time; new flushes do not wait for them', async (t) => {
  const { receiver, outbox } = setup(t, { connections: 3, retryInitialMs: 30 })
  for (const p of ['a', 'b', 'c']) outbox.push(payload(p))
  const first = [await receiver.nthAttempt(1), await receiver.nthAttempt(2), await receiver.nthAttempt(3)]
  first[1]!.settle(new Error('reset'))
  first[0]!.settle(new Error('reset'))
  outbox.push(payload('d'))
  const d = await receiver.nthAttempt(4)
  t.strictSame(d.payloads, ['d'], 'a new flush starts during the backoff')
  const retry = await receiver.nthAttempt(5)
  t.strictSame(retry.payloads, ['a', 'b'], 'the failed ones together, oldest first')
  first[2]!.settle(new Error('reset'))
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(receiver.attempts.length, 5, 'c waits for the retry in flight')
  retry.settle()
  const again = await receiver.nthAttempt(6)
  t.strictSame(again.payloads, ['c'])
  again.settle()
  d.settle()
  await new Promise(setImmediate)
  t.strictSame(receiver.delivered.sort(), ['a', 'b', 'c', 'd'])
  t.match(outbox.stats(), { delivered: 4, failedAttempts: 3, retries: 3, flushesQueued: 0 })
})

t.test('a deliver that resolves in its abort listener (it could tell the receiver took everything) counts as delivered', async (t) => {
  const outbox = outboxFor(
    t,
    (_payloads, signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
    { timeoutMs: 30 },
  )
  outbox.push(payload('a'))
  while (outbox.stats().delivered === 0 && outbox.stats().failedAttempts === 0) await new Promise((resolve) => setTimeout(resolve, 10))
  t.match(outbox.stats(), { delivered: 1, failedAttempts: 0, retries: 0 })
})

t.test('an attempt that never ends is aborted at the timeout and counts as failed', async (t) => {
  const { receiver, outbox } = setup(t, { timeoutMs: 50 })
  outbox.push(payload('a'))
  const a1 = await receiver.nthAttempt(1)
  await once(a1.signal, 'abort')
  t.ok(Date.now() - a1.at >= 45)
  const a2 = await receiver.nthAttempt(2)
  t.strictSame(a2.payloads, ['a'])
  t.equal(outbox.stats().failedAttempts, 1)
  a2.settle()
})

t.test('past maxBytes the oldest flushes are dropped and counted; the newest is always kept', async (t) => {
  const { receiver, outbox } = setup(t, { maxBytes: 10 })
  outbox.push(payload('0000')) // in flight, never answered
  const first = await receiver.nthAttempt(1)
  for (const p of ['1111', '2222', '3333', '4444']) outbox.push(payload(p))
  t.match(outbox.stats(), { delivered: 0, failedAttempts: 0, retries: 0, flushesDropped: 3, bytesQueued: 8 })
  first.settle(new Error('broken pipe'))
  await new Promise(setImmediate)
  t.equal(outbox.stats().flushesDropped, 3, 'the failed one fits: 0000 and 4444 are 8 bytes')
  outbox.push(payload('5555'))
  t.equal(outbox.stats().bytesQueued, 8, 'the oldest (0000) went')
  t.equal(outbox.stats().flushesDropped, 4)
  ;(await receiver.nthAttempt(2)).settle()
  await new Promise(setImmediate)
  t.strictSame(receiver.delivered, ['4444', '5555'])
  outbox.push(payload('a flush larger than the bound'))
  ;(await receiver.nthAttempt(3)).settle()
  await new Promise(setImmediate)
  t.equal(receiver.delivered.at(-1), 'a flush larger than the bound', 'a single oversized flush still goes')
})

t.test('Undeliverable: dropped and counted, not retried', async (t) => {
  const { receiver, outbox } = setup(t)
  outbox.push(payload('bad'))
  ;(await receiver.nthAttempt(1)).settle(new Undeliverable('HTTP 400'))
  outbox.push(payload('good'))
  const a2 = await receiver.nthAttempt(2)
  t.strictSame(a2.payloads, ['good'])
  a2.settle()
  await new Promise(setImmediate)
  t.match(outbox.stats(), { delivered: 1, failedAttempts: 1, retries: 0, flushesDropped: 1, bytesQueued: 0 })
})

t.test('close: one last attempt without waiting for the backoff, then what is left is dropped', async (t) => {
  const { receiver, outbox } = setup(t, { retryInitialMs: 60_000 })
  outbox.push(payload('a'))
  ;(await receiver.nthAttempt(1)).settle(new Error('refused'))
  await new Promise(setImmediate)
  const closing = outbox.close()
  const last = await receiver.nthAttempt(2)
  t.strictSame(last.payloads, ['a'])
  last.settle(new Error('refused'))
  await closing
  t.match(outbox.stats(), { delivered: 0, failedAttempts: 2, retries: 1, flushesDropped: 1, bytesQueued: 0 })
  outbox.push(payload('late'))
  t.equal(receiver.attempts.length, 2, 'nothing is sent after close')
})

t.test('close waits for the attempt in flight', async (t) => {
  const { receiver, outbox } = setup(t)
  outbox.push(payload('a'))
  const a1 = await receiver.nthAttempt(1)
  let closed = false
  const closing = outbox.close().then(() => (closed = true))
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.notOk(closed)
  a1.settle()
  await closing
  t.equal(outbox.stats().delivered, 1)
})

// ---- payloads delivered while they are still being written (Outbox.open) ----

/** A receiver that reads each payload's chunks as they come (as the Graphite backend does); `failAfter` chunks it breaks. */
class StreamingReceiver extends EventEmitter {
  readonly attempts: string[][] = []
  readonly delivered: string[] = []
  failAfter = Infinity
  hang = false
  deliver = async (payloads: readonly Payload[], signal: AbortSignal): Promise<void> => {
    const got: string[] = []
    this.attempts.push(got)
    const runs = async function* (): AsyncGenerator<readonly Buffer[]> {
      for (const p of payloads) {
        if (p instanceof GrowingPayload) yield* itemsOf<Buffer>([p], () => signal.aborted)
        else yield p.chunks
      }
    }
    for await (const run of runs()) {
      for (const chunk of run) {
        got.push(chunk.toString())
        this.emit('chunk', got.length)
        if (got.length >= this.failAfter) {
          this.failAfter = Infinity
          throw new Error('connection reset')
        }
      }
    }
    if (this.hang) await once(signal, 'abort').then(() => Promise.reject(signal.reason as Error))
    this.delivered.push(got.join(''))
  }

  async chunks(n: number): Promise<void> {
    while ((this.attempts.at(-1)?.length ?? 0) < n) await once(this, 'chunk')
  }
}

function streamingSetup(t: Test, opts: Partial<OutboxOptions> = {}) {
  const receiver = new StreamingReceiver()
  return { receiver, outbox: outboxFor(t, receiver.deliver, opts) }
}

const settled = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10))

t.test('a payload being written: its first chunks are delivered at once, and it counts as delivered only once complete', async (t) => {
  const { receiver, outbox } = streamingSetup(t)
  const p = outbox.open()
  p.append(Buffer.from('one '), Buffer.byteLength('one '))
  await receiver.chunks(1)
  t.strictSame(receiver.attempts, [['one ']], 'sent before the payload is complete')
  t.match(outbox.stats(), { delivered: 0, bytesQueued: 4, flushesQueued: 1 })
  p.append(Buffer.from('two '), Buffer.byteLength('two '))
  p.append(Buffer.from('three'), Buffer.byteLength('three'))
  await receiver.chunks(3)
  await settled()
  t.equal(outbox.stats().delivered, 0, 'not delivered while it may still grow')
  p.end()
  await settled()
  t.strictSame(receiver.delivered, ['one two three'])
  t.match(outbox.stats(), { delivered: 1, failedAttempts: 0, retries: 0, bytesQueued: 0, flushesQueued: 0 })
})

t.test('a failure half-way through a payload being written: the retry sends it whole from its first chunk', async (t) => {
  const { receiver, outbox } = streamingSetup(t, { retryInitialMs: 30 })
  const p = outbox.open()
  receiver.failAfter = 2
  p.append(Buffer.from('a'), Buffer.byteLength('a'))
  p.append(Buffer.from('b'), Buffer.byteLength('b'))
  await settled()
  t.equal(outbox.stats().failedAttempts, 1, 'the attempt broke after two chunks')
  t.equal(outbox.stats().bytesQueued, 2, 'and the payload is queued again')
  p.append(Buffer.from('c'), Buffer.byteLength('c'))
  outbox.push(payload(' next'))
  p.end()
  while (outbox.stats().delivered < 2) await settled()
  t.strictSame(receiver.attempts, [['a', 'b'], ['a', 'b', 'c', ' next']])
  t.strictSame(receiver.delivered, ['abc next'], 'each byte once, in order, in the attempt that succeeded')
  t.match(outbox.stats(), { delivered: 2, failedAttempts: 1, retries: 1, flushesDropped: 0, bytesQueued: 0 })
})

t.test("the deadline runs from when the payload is complete: slow writing is not the receiver's fault", async (t) => {
  const { receiver, outbox } = streamingSetup(t, { timeoutMs: 40 })
  const p = outbox.open()
  for (let i = 0; i < 4; i++) {
    p.append(Buffer.from(String(i)), Buffer.byteLength(String(i)))
    await new Promise((resolve) => setTimeout(resolve, 30))
  }
  t.equal(outbox.stats().failedAttempts, 0, '120 ms of writing, no timeout')
  receiver.hang = true
  const completed = Date.now()
  p.end()
  while (outbox.stats().failedAttempts === 0) await settled()
  t.ok(Date.now() - completed >= 35, 'timed out once complete, after timeoutMs')
  receiver.hang = false
  while (outbox.stats().delivered === 0) await settled()
  t.strictSame(receiver.delivered, ['0123'])
})

t.test('a payload being written counts against maxBytes as it grows: older flushes are dropped, it is kept', async (t) => {
  const { receiver, outbox } = streamingSetup(t, { maxBytes: 10 })
  receiver.failAfter = 1
  outbox.push(payload('0000'))
  await settled()
  outbox.push(payload('1111'))
  const p = outbox.open()
  t.match(outbox.stats(), { flushesDropped: 0, bytesQueued: 8 })
  p.append(Buffer.from('222'), Buffer.byteLength('222'))
  t.match(outbox.stats(), { flushesDropped: 1, bytesQueued: 7 }, 'the oldest went')
  p.append(Buffer.from('2222222222'), Buffer.byteLength('2222222222'))
  t.match(outbox.stats(), { flushesDropped: 2, bytesQueued: 13 }, 'the newest is kept even past the bound')
  p.end()
  while (outbox.stats().delivered === 0) await settled()
  t.strictSame(receiver.delivered, ['2222222222222'])
})

t.test('a payload whose writer failed is dropped and counted, never sent in part', async (t) => {
  const { receiver, outbox } = streamingSetup(t, { retryInitialMs: 20 })
  const queued = outbox.open()
  outbox.push(payload('x'))
  // Queued behind nothing: it is in flight at once. The next one waits in the queue.
  const inFlight = queued
  inFlight.append(Buffer.from('half '), Buffer.byteLength('half '))
  await receiver.chunks(1)
  const later = outbox.open()
  later.append(Buffer.from('also half'), Buffer.byteLength('also half'))
  later.abandon()
  t.match(outbox.stats(), { flushesDropped: 1 }, 'a queued one goes at once')
  inFlight.abandon()
  while (outbox.stats().delivered === 0) await settled()
  t.strictSame(receiver.delivered, ['x'], 'the complete flush in the same attempt is sent again, alone')
  t.match(outbox.stats(), { delivered: 1, failedAttempts: 1, flushesDropped: 2, bytesQueued: 0, flushesQueued: 0 })
})

t.test('itemsOf: items appended while the consumer holds a run come in the next run, none skipped', async (t) => {
  const payload = new GrowingPayload<Buffer>(
    () => {},
    () => {},
  )
  payload.append(Buffer.from('a'), Buffer.byteLength('a'))
  const got: string[] = []
  for await (const run of itemsOf([payload], () => false)) {
    got.push(...run.map((b) => b.toString()))
    // The formatter goes on while the socket takes this run.
    if (got.length === 1) {
      payload.append(Buffer.from('b'), Buffer.byteLength('b'))
      payload.append(Buffer.from('c'), Buffer.byteLength('c'))
      payload.end()
    }
  }
  t.same(got, ['a', 'b', 'c'])
})
