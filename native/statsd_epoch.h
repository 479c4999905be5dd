#ifndef STATSD_EPOCH_H
#define STATSD_EPOCH_H
#include <stdatomic.h>
#include <stdint.h>

/*
 * The flush boundary, one point for every shard (src/aggregate/shards/epoch.ts
 * is the other side). The main thread counts flush intervals in a shared
 * word, and bumps it at each take. A reader thread reads it once per
 * recvmmsg() batch and stamps the lane records of that batch with it
 * (statsd_lanes.c), so a datagram's lines, whatever shards they go to, are
 * all in one interval; a shard reads no record of a later interval before
 * it has taken the one in progress.
 *
 * So that no record of the old interval is published after the take, each
 * reader keeps a word of its own odd while it routes a batch: the main
 * thread, having bumped the interval, waits for the odd words it sees to
 * change (a batch is at most 64 datagrams, microseconds). Dekker: the
 * reader stores its word, then loads the interval; the main thread stores
 * the interval, then loads the words; both sequentially consistent, so at
 * least one sees the other's store. The reader never waits.
 */
typedef struct {
  _Atomic int32_t *interval; /* the main thread's count of takes */
  _Atomic int32_t *batch;    /* this reader's: odd while a batch is routed */
  uint32_t batches;          /* its value, twice the batches routed */
  int32_t stamp;             /* the interval of the batch being routed */
} epoch_t;

/* Before routing a batch's first datagram. */
static inline void epoch_batch_begin(epoch_t *e) {
  atomic_store_explicit(e->batch, (int32_t)++e->batches, memory_order_seq_cst);
  e->stamp = atomic_load_explicit(e->interval, memory_order_seq_cst);
}

/* After publishing the batch's records (their tails stored before this). */
static inline void epoch_batch_end(epoch_t *e) {
  atomic_store_explicit(e->batch, (int32_t)++e->batches, memory_order_release);
}

#endif
