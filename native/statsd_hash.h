#ifndef STATSD_HASH_H
#define STATSD_HASH_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/*
 * The route hash: which shard a line goes to (src/aggregate/shards/route.ts
 * is the same rule, byte for byte; a test compares the two on random lines).
 * Inline here because a reader thread runs it on every line
 * (statsd_lanes.c), where a call cost a fifth of it.
 *
 * What each byte does in the hash: HASH_SKIP, a byte name building may drop
 * or change; HASH_STOP, the end of the name (":" and ";"); HASH_PIPE, the
 * end if "#" follows; otherwise the byte it stands for ("/" is stored as
 * "-"). The bytes kept are hashed four at a time (little-endian words, the
 * last one zero-padded), so that the usual name, all of bytes kept as they
 * are and ended by ":", is found 16 bytes at a time and hashed a word at a
 * time (plain_name): a table lookup and a multiply a byte were most of the
 * reader thread's routing cost. Filled in statsd_route.c.
 */
enum { HASH_SKIP = 0, HASH_STOP = 1, HASH_PIPE = 2 };
extern uint8_t statsd_hash_class[256];

#define HASH_SEED 0x811c9dc5u

static inline int is_event_line(const uint8_t *b, size_t s, size_t e) {
  if (e - s >= 3 && b[s + 1] == 'e' && b[s + 2] == '{') return 1;
  return e - s >= 4 && b[s + 1] == 's' && b[s + 2] == 'c' && b[s + 3] == '|';
}

static inline uint32_t hash_word(uint32_t h, uint32_t w) {
  h = (h ^ w) * 0x9e3779b1u;
  return h ^ (h >> 15);
}

/* murmur3's finaliser (the words' mixing alone spreads poorly over a few shards), then a multiply for the modulo. */
static inline uint32_t hash_shard(uint32_t h, uint32_t shards) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return (uint32_t)(((uint64_t)h * shards) >> 32);
}

#if defined(__SSE2__)
/* The bytes among the 16 at p that name building keeps as they are ([A-Za-z0-9.=-]), a bit each. */
static inline unsigned plain16(const uint8_t *p) {
  __m128i v = _mm_loadu_si128((const __m128i *)p);
  /* Each range as a signed compare: x - lo + 0x80 < n - 128 for x in [lo, lo + n). */
  __m128i letters = _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8((char)(0x80 - 'a'))), _mm_set1_epi8((char)(0x80 + 26)));
  __m128i digits = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(0x80 - '0'))), _mm_set1_epi8((char)(0x80 + 10)));
  __m128i dash_dot = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(0x80 - '-'))), _mm_set1_epi8((char)(0x80 + 2)));
  __m128i equals = _mm_cmpeq_epi8(v, _mm_set1_epi8('='));
  return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letters, digits), _mm_or_si128(dash_dot, equals)));
}
#endif

/*
 * The length of the name from k if it is all plain bytes up to a ":", ";"
 * or the line's end e; -1 otherwise, or when that would read at or past
 * `readable` (the slow path then reads it byte by byte, to the same hash).
 */
static inline long plain_name(const uint8_t *b, size_t k, size_t e, size_t readable) {
#if defined(__SSE2__)
  for (size_t p = k; p + 16 <= readable; p += 16) {
    unsigned j = (unsigned)__builtin_ctz(~plain16(b + p));
    if (p + j >= e) return (long)(e - k);
    if (j < 16) return b[p + j] == ':' || b[p + j] == ';' ? (long)(p + j - k) : -1;
  }
#endif
  return -1;
}

/* The hash of n plain bytes at p: whole words, then the rest zero-padded. */
static inline uint32_t hash_plain(const uint8_t *p, size_t n) {
  uint32_t h = HASH_SEED, w;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    memcpy(&w, p + i, 4); /* little-endian: byte k is bits 8k..8k+7 */
    h = hash_word(h, w);
  }
  if (i == n) return h;
  if (n >= 4) {
    /* The last 4 bytes of the name, shifted down to the ones not hashed yet. */
    memcpy(&w, p + n - 4, 4);
    return hash_word(h, w >> (8 * (4 - (n - i))));
  }
  w = 0;
  for (unsigned s = 0; i < n; i++, s += 8) w |= (uint32_t)p[i] << s;
  return hash_word(h, w);
}

/* Any name, byte by byte through statsd_hash_class (see the top). */
static inline uint32_t hash_name(const uint8_t *b, size_t k, size_t e) {
  uint32_t h = HASH_SEED, w = 0;
  unsigned s = 0;
  for (; k < e; k++) {
    uint8_t m = statsd_hash_class[b[k]];
    if (m > HASH_PIPE) {
      w |= (uint32_t)m << s;
      if ((s += 8) == 32) {
        h = hash_word(h, w);
        w = 0;
        s = 0;
      }
    } else if (m == HASH_STOP || (m == HASH_PIPE && k + 1 < e && b[k + 1] == '#')) {
      break;
    }
  }
  return s > 0 ? hash_word(h, w) : h;
}

/* The shard of the line b[s, e); bytes up to b[readable) may be read (more than the line: faster). */
static inline uint32_t shard_of_line(const uint8_t *b, size_t s, size_t e, size_t readable, int token, uint32_t shards) {
  if (b[s] == '_' && is_event_line(b, s, e)) return 0;
  size_t k = s;
  if (token) {
    while (k < e && b[k] != '.' && b[k] != ':' && !(b[k] == '|' && k + 1 < e && b[k + 1] == '#')) k++;
    if (k == e || k == s || b[k] != '.') return 0;
    k++;
  }
  long n = plain_name(b, k, e, readable);
  return hash_shard(n >= 0 ? hash_plain(b + k, (size_t)n) : hash_name(b, k, e), shards);
}

#endif
