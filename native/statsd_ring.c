/*
 * The reader thread's hand-off ring (statsd_ring.h). The producer publishes
 * an entry with a release store of tail, after writing the slot (and, before
 * that, the slab the entry names); the consumer's acquire load of tail then
 * sees both. The same holds the other way for head, so a slot is never
 * overwritten before it was read.
 */
#include "statsd_ring.h"

#include <stdlib.h>

int ring_init(ring_t *ring, uint32_t min_capacity) {
  uint32_t capacity = 2;
  while (capacity < min_capacity) capacity <<= 1;
  ring->slots = calloc(capacity, sizeof *ring->slots);
  if (ring->slots == NULL) return -1;
  ring->mask = capacity - 1;
  atomic_init(&ring->head, 0);
  atomic_init(&ring->tail, 0);
  return 0;
}

void ring_free(ring_t *ring) {
  free(ring->slots);
  ring->slots = NULL;
}

int ring_push(ring_t *ring, int32_t value) {
  uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
  uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
  if (tail - head > ring->mask) return 0;
  ring->slots[tail & ring->mask] = value;
  atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
  return 1;
}

int ring_pop(ring_t *ring, int32_t *value) {
  uint32_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
  uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
  if (head == tail) return 0;
  *value = ring->slots[head & ring->mask];
  atomic_store_explicit(&ring->head, head + 1, memory_order_release);
  return 1;
}

uint32_t ring_length(ring_t *ring) {
  return atomic_load_explicit(&ring->tail, memory_order_acquire) - atomic_load_explicit(&ring->head, memory_order_acquire);
}
