#ifndef STATSD_HASH_H
#define STATSD_HASH_H
#include <stddef.h>
#include <stdint.h>

/*
 * The route hash: which shard a line goes to (src/aggregate/shards/route.ts
 * is the same rule, byte for byte; a test compares the two on random lines).
 * Inline here because a reader thread runs it on every line
 * (statsd_lanes.c), where a call cost a fifth of it.
 *
 * What each byte does in the hash: HASH_SKIP, a byte name building may drop
 * or change; HASH_STOP, the end of the name (":" and ";"); HASH_PIPE, the
 * end if "#" follows; otherwise the byte it stands for ("/" is stored as
 * "-"). One table lookup a byte: the branches it replaced were most of the
 * reader thread's routing cost. Filled in statsd_route.c.
 */
enum { HASH_SKIP = 0, HASH_STOP = 1, HASH_PIPE = 2 };
extern uint8_t statsd_hash_class[256];

static inline int is_event_line(const uint8_t *b, size_t s, size_t e) {
  if (e - s >= 3 && b[s + 1] == 'e' && b[s + 2] == '{') return 1;
  return e - s >= 4 && b[s + 1] == 's' && b[s + 2] == 'c' && b[s + 3] == '|';
}

static inline uint32_t shard_of_line(const uint8_t *b, size_t s, size_t e, int token, uint32_t shards) {
  if (b[s] == '_' && is_event_line(b, s, e)) return 0;
  size_t k = s;
  if (token) {
    while (k < e && b[k] != '.' && b[k] != ':' && !(b[k] == '|' && k + 1 < e && b[k + 1] == '#')) k++;
    if (k == e || k == s || b[k] != '.') return 0;
    k++;
  }
  uint32_t h = 0x811c9dc5u;
  while (k < e) {
    if (e - k >= 8) {
      /* Up to eight kept bytes without a bound test each (most names are all kept bytes): ~7 instructions a byte, not 10. */
      unsigned i = 0;
#pragma GCC unroll 8
      for (; i < 8; i++) {
        uint8_t m = statsd_hash_class[b[k + i]];
        if (m <= HASH_PIPE) break;
        h = (h ^ m) * 0x01000193u;
      }
      k += i;
      if (i == 8) continue;
    }
    uint8_t m = statsd_hash_class[b[k]];
    if (m > HASH_PIPE) h = (h ^ m) * 0x01000193u;
    else if (m == HASH_STOP || (m == HASH_PIPE && k + 1 < e && b[k + 1] == '#')) break;
    k++;
  }
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h % shards;
}

#endif
