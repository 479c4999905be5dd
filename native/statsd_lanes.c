/*
 * The reader thread's hand-off to the shards (statsd_lanes.h), when there
 * are several: the reader splits each datagram into lines while its bytes
 * are in its cache and copies each line straight into the lane of the
 * shard its name hashes to (statsd_route.c), so the main thread never
 * touches datagram bytes. Each lane has one writer (this reader) and one
 * reader (the shard's worker), so a release store of the tail publishes
 * the records before it, and the worker's store of the head gives their
 * room back.
 *
 * Lines of consecutive datagrams with the same sender (originTags' pid and
 * uid) share a record until the next publish, which closes every record at
 * the end of each recvmmsg() batch: a record's lines are all of one batch,
 * stamped with the interval epoch read at its start (statsd_epoch.h). A record never wraps: when
 * the end of the ring is too near, a REC_WRAP mark sends the worker to
 * offset 0. When the worker has read everything and the writing is past
 * RESTART_AFTER (or half the ring), the next record starts at offset 0
 * again, so that steady traffic touches only the start of the ring and its
 * memory stays small.
 */
#include "statsd_lanes.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "statsd_doorbell.h"
#include "statsd_hash.h"

/* A lane with more than this part of its bytes unread rings at once, not at the end of the read pass. */
#define RING_EARLY_PART 4
/* Once the worker has read everything past this offset, writing starts over at 0 (see the top). */
#define RESTART_AFTER (1u << 20)

static inline uint32_t align4(uint32_t n) {
  return (n + 3) & ~3u;
}

/* Writes the open record's header (kept in the lane while it fills) in front of its lines. */
static void close_record(lane_t *l) {
  if (l->open < 0) return;
  l->rec[REC_LENGTH] = (int32_t)(l->write - (uint32_t)l->open - REC_HEADER);
  memcpy(l->bytes + l->open, l->rec, sizeof l->rec);
  l->lines += (uint32_t)l->rec[REC_LINES];
  l->write = align4(l->write);
  l->open = -1;
  l->sender = LANE_NO_SENDER;
}

/* Sends the worker to offset 0 from `write` (which it has not passed). */
static void wrap(lane_t *l) {
  close_record(l);
  if (l->write + 4 <= l->size) {
    int32_t mark = REC_WRAP;
    memcpy(l->bytes + l->write, &mark, sizeof mark);
  }
  l->write = 0;
}

/*
 * Whether `need` bytes fit at `write`, wrapping if that makes them fit. The
 * ring is never filled completely (write == head means empty), and a wrap
 * mark always has its 4 bytes (records are aligned, the size is a multiple of 4).
 */
static int make_room(lane_t *l, uint32_t need) {
  uint32_t head = (uint32_t)atomic_load_explicit(&l->control[LANE_HEAD], memory_order_acquire);
  if (l->open < 0 && head == l->write && l->write >= (l->size / 2 < RESTART_AFTER ? l->size / 2 : RESTART_AFTER)) {
    /* Everything was read: start over at the beginning. The worker follows the wrap mark once it is published;
     * until then it holds `head`, so [0, head) is the room. */
    wrap(l);
  }
  if (l->write >= head) {
    if (l->size - l->write >= need + 4) return 1;
    if (head > need + 4) {
      wrap(l);
      return 1;
    }
    return 0;
  }
  return head - l->write > need + 4;
}

/* The record the datagram's lines go to in this lane: the open one if it has the same sender, else a new one. */
static inline void open_record(lane_t *l, int32_t source, int32_t pid, int32_t uid, int32_t epoch) {
  if (l->sender == lane_sender(pid, uid)) return;
  close_record(l);
  l->sender = lane_sender(pid, uid);
  int32_t header[REC_FIELDS] = {0, source, 0, 0, pid, uid, 0, epoch};
  memcpy(l->rec, header, sizeof header);
  l->open = l->write;
  l->write += REC_HEADER;
}

#if defined(__SSE2__)
/* The newlines among the 16 bytes at p, a bit each. */
static inline unsigned newlines16(const uint8_t *p) {
  return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), _mm_set1_epi8('\n')));
}
#endif

/* Where the line from ls ends: the next newline, or len. Looks at 32 bytes first (most lines are shorter). */
static inline size_t line_end(const uint8_t *data, size_t ls, size_t len) {
#if defined(__SSE2__)
  unsigned newlines = newlines16(data + ls);
  if (newlines == 0 && len - ls > 16) newlines = newlines16(data + ls + 16) << 16;
  if (newlines != 0) {
    size_t le = ls + (size_t)__builtin_ctz(newlines);
    return le < len ? le : len;
  }
  if (len - ls <= 32) return len;
#endif
  const uint8_t *nl = memchr(data + ls, '\n', len - ls);
  return nl == NULL ? len : (size_t)(nl - data);
}

/*
 * The shard of the line from ls, and where it ends (*le). The usual line, a
 * name of plain bytes ended by ":" (statsd_hash.h), is told from one load
 * of 16 bytes, and its newline looked for after the name only. Calling
 * plain_name from here instead, whose loop also takes longer names, cost
 * the reader thread 160 instructions per metric against 137 (callgrind,
 * `threads.js instructions 2`): longer names take shard_of_line's path.
 */
static inline uint32_t route_line(const uint8_t *data, size_t ls, size_t len, int token, uint32_t shards, size_t *le) {
#if defined(__SSE2__)
  if (!token) {
    /* A name of plain bytes ends at the first other byte: an event's "_", a newline and the datagram's end all come first. */
    size_t j = ls + (size_t)__builtin_ctz(~plain16(data + ls));
    if (j < len && (data[j] == ':' || data[j] == ';')) {
      *le = line_end(data, j, len);
      return hash_shard(hash_plain(data + ls, j - ls), shards);
    }
  }
#endif
  *le = line_end(data, ls, len);
  return *le > ls ? shard_of_line(data, ls, *le, len + LANES_SLACK, token, shards) : 0;
}

int lanes_route(lanes_t *lanes, const uint8_t *data, size_t len, int32_t pid, int32_t uid) {
  /* Its lines and newlines take at most len + 1 bytes in any lane, plus a record header, alignment and a short line's 16-byte copy. */
  uint32_t need = (uint32_t)len + 1 + REC_HEADER + 4 + LANES_SLACK;
  for (uint32_t i = 0; i < lanes->count; i++)
    if (!make_room(&lanes->lane[i], need)) return 0;
  /* Read once: the compiler reloads what the lines' byte stores might have changed. */
  const int token = lanes->token;
  const uint32_t shards = lanes->count;
  const int32_t source = lanes->source, stamp = lanes->epoch.stamp;
  lane_t *first = NULL;
  size_t ls = 0;
  while (ls < len) {
    size_t le;
    uint32_t shard = route_line(data, ls, len, token, shards, &le);
    if (le > ls) {
      lane_t *l = &lanes->lane[shard];
      open_record(l, source, pid, uid, stamp);
      size_t n = le - ls;
      uint32_t at = l->write;
      l->write = at + (uint32_t)(n + 1);
      l->rec[REC_LINES]++;
      if (first == NULL) first = l;
      uint8_t *to = l->bytes + at;
      /* Fixed sizes are a few instructions where a call to memcpy costs dozens (LANES_SLACK: both ends have the room). */
      if (n <= 16) {
        memcpy(to, data + ls, 16);
      } else if (n <= 32) {
        memcpy(to, data + ls, 16);
        memcpy(to + n - 16, data + ls + n - 16, 16);
      } else {
        memcpy(to, data + ls, n);
      }
      to[n] = '\n';
    }
    ls = le + 1;
  }
  if (first == NULL) {
    first = &lanes->lane[0];
    open_record(first, source, pid, uid, stamp);
  }
  first->rec[REC_PACKETS]++;
  first->rec[REC_BYTES] += (int32_t)len;
  return 1;
}

/* Bytes published in the lane and not yet read. */
static uint32_t unread(lane_t *l) {
  uint32_t head = (uint32_t)atomic_load_explicit(&l->control[LANE_HEAD], memory_order_relaxed);
  return l->write >= head ? l->write - head : l->size - head + l->write;
}

void lanes_publish(lanes_t *lanes, int ring) {
  for (uint32_t i = 0; i < lanes->count; i++) {
    lane_t *l = &lanes->lane[i];
    if (l->open >= 0 || (uint32_t)atomic_load_explicit(&l->control[LANE_TAIL], memory_order_relaxed) != l->write) {
      close_record(l);
      atomic_fetch_add_explicit(&l->control[LANE_LINES], (int32_t)l->lines, memory_order_relaxed);
      l->lines = 0;
      atomic_store_explicit(&l->control[LANE_TAIL], (int32_t)l->write, memory_order_seq_cst);
      l->unrung = 1;
    }
    /* A worker already draining sees the new tail anyway; an idle one is woken once per read pass, or at once if its lane fills. */
    if (!l->unrung || (!ring && unread(l) < l->size / RING_EARLY_PART)) continue;
    l->unrung = 0;
    /* Dekker with the worker: it clears the flag, then loads the tail; we store the tail, then test the flag. */
    if (atomic_exchange_explicit(&l->control[LANE_WAKE], 1, memory_order_seq_cst) == 0) doorbell_ring(l->doorbell);
  }
}
