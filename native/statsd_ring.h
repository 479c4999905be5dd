#ifndef STATSD_RING_H
#define STATSD_RING_H
#include <stdatomic.h>
#include <stdint.h>

/*
 * The hand-off between a reader thread and the JavaScript thread: a
 * single-producer, single-consumer ring of slab indices. It never blocks and
 * never allocates after ring_init; the producer and the consumer each own one
 * index, on cache lines of their own, so neither writes a line the other
 * keeps reading.
 */
typedef struct {
  int32_t *slots;
  uint32_t mask;
  _Alignas(64) _Atomic uint32_t head; /* the consumer's: next slot to pop */
  _Alignas(64) _Atomic uint32_t tail; /* the producer's: next slot to fill */
} ring_t;

/* Room for at least min_capacity entries. Returns 0, or -1 out of memory. */
int ring_init(ring_t *ring, uint32_t min_capacity);
void ring_free(ring_t *ring);
/* Producer only. Returns 0 when the ring is full. */
int ring_push(ring_t *ring, int32_t value);
/* Consumer only. Returns 0 when the ring is empty. */
int ring_pop(ring_t *ring, int32_t *value);
/* Entries waiting: exact for either side, a snapshot for anyone else. */
uint32_t ring_length(ring_t *ring);

#endif
