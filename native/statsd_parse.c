/*
 * The common StatsD line, parsed in C: `key:value|type` with a key with no
 * "|" in it, a plain decimal value, and any DogStatsD fields after the type
 * in any order: `@rate`, `#tags`, `T` timestamp, `c:` container ID, `e:`
 * external data, `card:` cardinality, unknown ones (counted for JavaScript
 * to log). The usual `|@rate` then `|#tags` are read inline; any other field
 * out of line, so that the common line pays nothing for them.
 * That is nearly every line a real client sends, and in JavaScript its
 * scan and key lookup cost about as much as everything else the server
 * does per metric (system calls, batching, flushing) put together: every
 * typed-array byte read re-checks bounds and map.
 *
 * This is only a fast path in front of the JavaScript parser
 * (src/parse/packet-parser.ts), never a second reading of the protocol:
 * anything else on a line (an event, several values, sets, a sign or
 * exponent it does not expect, a field JavaScript may call bad or make a
 * tag, "\r") sends that whole line to
 * JavaScript as it is, in order, so bad lines are counted and logged in one
 * place and the results are the same bits either way (the value is the
 * mantissa over an exact power of ten, as there). Keys are interned here by
 * their raw bytes into small integer ids (a tagged key as its bytes, "|"
 * and its tags' bytes: a key here never holds a "|"); JavaScript resolves
 * an id once, when it is first seen, to its metric (cleaning the name and
 * turning the tags into Graphite tags as it always does).
 *
 * Output is a list of records in typed arrays JavaScript handed over once
 * (see src/parse/native-parser.ts for their layout); a call stops at a line
 * boundary when they are full and says where it got to.
 *
 * Counters, most of what clients send, need no record at all once
 * JavaScript has bound their key's id to its row in the aggregator's column
 * of counter values: the call adds `value / rate` straight into that row,
 * exactly as the aggregator does (the same double operations, the same
 * order), and counts the line and the key's hit. Handing JavaScript a
 * record per line, and calling back into the aggregator per record, cost
 * more than parsing the line. A call stops adding directly after its first
 * record of a counter, or of a line JavaScript parses that may hold one:
 * from there on, every counter goes through JavaScript in order, so a
 * metric's additions never change order.
 */
#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statsd_parse.h"
#include "napi_helpers.h"

/* REC_UNBOUND_COUNTER: a counter whose id has no row yet (JavaScript then binds it). */
/* REC_HISTOGRAM: a timer that came as a DogStatsD histogram or distribution ("h", "d"). */
/* REC_NEW_KEY: (key start, key end) in ops, (tags start, tags end) in vals (both the key end without tags). */
/* REC_BAD_FIELDS: (line start, line end) in ops, the count of unknown DogStatsD fields in vals. */
/* REC_POINT_TIME: the next record's value is a point at the Unix seconds in vals ("T" field). */
enum {
  REC_COUNTER,
  REC_TIMER,
  REC_GAUGE,
  REC_GAUGE_DELTA,
  REC_UNBOUND_COUNTER,
  REC_HISTOGRAM,
  REC_NEW_KEY,
  REC_SLOW_LINE,
  REC_BAD_FIELDS,
  REC_POINT_TIME
};
#define KIND_BITS 4
/* A line makes at most this many records: a new key, its unknown fields, its timestamp, its value. */
#define RECORDS_PER_LINE 4
/* The digits of a "T" field JavaScript takes (readTimestamp). */
#define MAX_TIMESTAMP_DIGITS 12
#define MAX_FAST_DIGITS 15
/* Past this many ids, new keys go to JavaScript (whose caches start afresh on their own). */
#define MAX_KEYS (1 << 20)
/* A tagged key longer than this (key, "|", tags) goes to JavaScript. */
#define MAX_TAGGED_KEY 1024
#define INITIAL_SLOTS 1024

typedef struct {
  uint32_t *slot_hashes;
  int32_t *slot_ids; /* id + 1; 0 = empty */
  uint32_t slots;    /* a power of two, at least twice count */
  uint32_t count;
  uint32_t ids_cap;
  uint32_t *key_start;
  uint32_t *key_len;
  uint32_t *row1;  /* per id: its counter's row + 1 in the column of values; 0 = not bound */
  uint32_t *hits;  /* per id: lines added directly since JavaScript last took them */
  char *arena;
  size_t arena_used, arena_cap;
  int32_t *ops;   /* 3 per record: kind | id << KIND_BITS, line start, line end (or key start, end) */
  double *vals;   /* 2 per record: value, sample rate */
  int32_t *state; /* see STATE_* */
  int32_t *binds; /* pairs (id, row) JavaScript has bound since the last call */
  uint32_t records_cap, binds_cap;
  /* During a call: the counter column (NULL: add nothing directly), its length, lines added. */
  double *values;
  size_t values_len;
  int32_t summed;
  napi_ref refs[4];
} key_table_t;

/* state[]: written by a call (where it stopped, lines it added directly), or read by it (binds, reset). */
/* STATE_CONTAINER_TAG: JavaScript makes a "c:" field a tag (containerIdTag): such lines are its. */
enum { STATE_POS, STATE_INDEX, STATE_SUMMED, STATE_BINDS, STATE_UNBIND_ALL, STATE_NEXT_ID, STATE_CONTAINER_TAG, STATE_LEN };

static double EXACT_POW10[MAX_FAST_DIGITS + 1];

static void free_table(key_table_t *t) {
  free(t->slot_hashes);
  free(t->slot_ids);
  free(t->key_start);
  free(t->key_len);
  free(t->row1);
  free(t->hits);
  free(t->arena);
  free(t);
}

static void finalize_table(napi_env env, void *data, void *hint) {
  key_table_t *t = data;
  for (int i = 0; i < 4; i++)
    if (t->refs[i]) napi_delete_reference(env, t->refs[i]);
  free_table(t);
}

static int alloc_slots(key_table_t *t, uint32_t slots) {
  uint32_t *hashes = calloc(slots, sizeof *hashes);
  int32_t *ids = calloc(slots, sizeof *ids);
  if (hashes == NULL || ids == NULL) {
    free(hashes);
    free(ids);
    return 0;
  }
  free(t->slot_hashes);
  free(t->slot_ids);
  t->slot_hashes = hashes;
  t->slot_ids = ids;
  t->slots = slots;
  return 1;
}

static uint32_t slot_of(const key_table_t *t, uint32_t hash) {
  uint32_t mask = t->slots - 1, s = hash & mask;
  while (t->slot_ids[s] != 0) s = (s + 1) & mask;
  return s;
}

/* Resizes one of the per-id columns to `cap` entries; 0 if there is no memory (it is left as it was). */
static int grow_column(uint32_t **column, uint32_t cap) {
  uint32_t *bigger = realloc(*column, cap * sizeof *bigger);
  if (bigger == NULL) return 0;
  *column = bigger;
  return 1;
}

/*
 * The id of key[0, len), adding it if new (*added = 1); -1 if it cannot be
 * added. Inlined into both callers: as a call it cost the common line 4 %.
 */
static inline __attribute__((always_inline)) int32_t intern(key_table_t *t, const uint8_t *key, uint32_t len, uint32_t hash, int *added) {
  uint32_t mask = t->slots - 1, s = hash & mask;
  *added = 0;
  for (;; s = (s + 1) & mask) {
    int32_t id1 = t->slot_ids[s];
    if (id1 == 0) break;
    uint32_t id = (uint32_t)id1 - 1;
    if (t->slot_hashes[s] == hash && t->key_len[id] == len && memcmp(t->arena + t->key_start[id], key, len) == 0) return (int32_t)id;
  }
  if (t->count >= MAX_KEYS) return -1;
  /*
   * Never the key of a DogStatsD event ("_e{3,4}:1|c|@0.5" is one, titled
   * "1|c"): its lines go to JavaScript. Checked here, for new keys only,
   * where it costs the common line nothing.
   */
  if (len >= 3 && key[0] == '_' && key[1] == 'e' && key[2] == '{') return -1;
  if (t->arena_used + len > t->arena_cap) {
    size_t cap = t->arena_cap * 2 > t->arena_used + len ? t->arena_cap * 2 : t->arena_used + len;
    char *arena = realloc(t->arena, cap);
    if (arena == NULL) return -1;
    t->arena = arena;
    t->arena_cap = cap;
  }
  if (t->count == t->ids_cap) {
    uint32_t cap = t->ids_cap * 2;
    if (!grow_column(&t->key_start, cap) || !grow_column(&t->key_len, cap) || !grow_column(&t->row1, cap) || !grow_column(&t->hits, cap)) return -1;
    t->ids_cap = cap;
  }
  if ((t->count + 1) * 2 > t->slots) {
    uint32_t *old_hashes = t->slot_hashes;
    int32_t *old_ids = t->slot_ids;
    uint32_t old_slots = t->slots;
    t->slot_hashes = NULL;
    t->slot_ids = NULL;
    if (!alloc_slots(t, old_slots * 2)) {
      t->slot_hashes = old_hashes;
      t->slot_ids = old_ids;
      t->slots = old_slots;
      return -1;
    }
    for (uint32_t i = 0; i < old_slots; i++) {
      if (old_ids[i] == 0) continue;
      uint32_t at = slot_of(t, old_hashes[i]);
      t->slot_hashes[at] = old_hashes[i];
      t->slot_ids[at] = old_ids[i];
    }
    free(old_hashes);
    free(old_ids);
  }
  uint32_t id = t->count++;
  t->row1[id] = 0;
  t->hits[id] = 0;
  memcpy(t->arena + t->arena_used, key, len);
  t->key_start[id] = (uint32_t)t->arena_used;
  t->key_len[id] = len;
  t->arena_used += len;
  s = slot_of(t, hash);
  t->slot_hashes[s] = hash;
  t->slot_ids[s] = (int32_t)id + 1;
  *added = 1;
  return (int32_t)id;
}

/*
 * A plain decimal at buf[*at, end): digits with at most one ".", 1 to 15
 * digits in all. Leaves *at after it; 0 if it is not one.
 */
static int plain_decimal(const uint8_t *buf, int32_t *at, int32_t end, double *value) {
  int32_t i = *at;
  int64_t mantissa = 0;
  int digits = 0, dot_at = -1;
  for (; i < end; i++) {
    unsigned d = (unsigned)buf[i] - '0';
    if (d <= 9) {
      mantissa = mantissa * 10 + d;
      digits++;
    } else if (buf[i] == '.' && dot_at < 0) {
      dot_at = digits;
    } else {
      break;
    }
    if (digits > MAX_FAST_DIGITS) return 0;
  }
  if (digits == 0) return 0;
  int fraction = dot_at < 0 ? 0 : digits - dot_at;
  *value = fraction == 0 ? (double)mantissa : (double)mantissa / EXACT_POW10[fraction];
  *at = i;
  return 1;
}

static void record(key_table_t *t, uint32_t *n, int32_t op, int32_t a, int32_t b, double value, double rate) {
  uint32_t r = (*n)++;
  t->ops[3 * r] = op;
  t->ops[3 * r + 1] = a;
  t->ops[3 * r + 2] = b;
  t->vals[2 * r] = value;
  t->vals[2 * r + 1] = rate;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
/* The high bit of each byte of the result is set up to and at the first zero byte of x (later ones may be wrong). */
#define ZERO_BYTES(x) (((x) - ONES) & ~(x) & HIGHS)

static uint64_t mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 29);
}

/*
 * Where the key from start ends: at the first ":", "|" or newline, or end.
 * Reads 8 bytes at a time and hashes them on the way; the hash is of the
 * key's bytes only (the last word masked), so the same key always gets it.
 */
static int32_t key_scan(const uint8_t *buf, int32_t start, int32_t end, uint32_t *hash) {
  uint64_t h = 0;
  int32_t i = start;
  for (; i + 8 <= end; i += 8) {
    uint64_t w;
    memcpy(&w, buf + i, 8); /* little-endian: byte k is bits 8k..8k+7 */
    uint64_t colons = w ^ (ONES * ':'), pipes = w ^ (ONES * '|'), newlines = w ^ (ONES * '\n');
    uint64_t found = ZERO_BYTES(colons) | ZERO_BYTES(pipes) | ZERO_BYTES(newlines);
    if (found != 0) {
      int before = __builtin_ctzll(found) >> 3;
      if (before > 0) h = mix(h, w & ((1ull << (before * 8)) - 1));
      *hash = (uint32_t)(h ^ (h >> 32));
      return i + before;
    }
    h = mix(h, w);
  }
  uint64_t w = 0;
  int shift = 0;
  for (; i < end && buf[i] != ':' && buf[i] != '|' && buf[i] != '\n'; i++, shift += 8) w |= (uint64_t)buf[i] << shift;
  if (shift > 0) h = mix(h, w);
  *hash = (uint32_t)(h ^ (h >> 32));
  return i;
}

/*
 * Inlined into both callers (the usual tags and more_fields' tags).
 * Where the tags from i end: at the first "|", newline or "\r", or end
 * (JavaScript reads a "\r" inside them as part of them: such lines go there).
 * Hashes them 8 bytes at a time on the way, into *h.
 */
static inline __attribute__((always_inline)) int32_t tags_scan(const uint8_t *buf, int32_t i, int32_t end, uint64_t *h) {
  uint64_t hash = *h;
  for (; i + 8 <= end; i += 8) {
    uint64_t w;
    memcpy(&w, buf + i, 8);
    uint64_t pipes = w ^ (ONES * '|'), newlines = w ^ (ONES * '\n'), returns = w ^ (ONES * '\r');
    uint64_t found = ZERO_BYTES(pipes) | ZERO_BYTES(newlines) | ZERO_BYTES(returns);
    if (found != 0) {
      int before = __builtin_ctzll(found) >> 3;
      if (before > 0) hash = mix(hash, w & ((1ull << (before * 8)) - 1));
      *h = hash;
      return i + before;
    }
    hash = mix(hash, w);
  }
  uint64_t w = 0;
  int shift = 0;
  for (; i < end && buf[i] != '|' && buf[i] != '\n' && buf[i] != '\r'; i++, shift += 8) w |= (uint64_t)buf[i] << shift;
  if (shift > 0) hash = mix(hash, w);
  *h = hash;
  return i;
}

/*
 * Whether JavaScript might read a counter in buf[start, end): only a type
 * field "c" makes one, and Etsy trims the field, so a "|" then spaces then
 * "c" anywhere. Sets, timers and tagged lines of other types have none.
 */
static int may_count(const uint8_t *buf, int32_t start, int32_t end) {
  for (int32_t i = start; i < end; i++) {
    if (buf[i] != '|') continue;
    int32_t j = i + 1;
    while (j < end && (buf[j] == ' ' || (buf[j] >= 9 && buf[j] <= 13))) j++;
    if (j < end && buf[j] == 'c') return 1;
  }
  return 0;
}

/*
 * The id of a tagged key: the key, "|", then the tags, as one raw key (the
 * value and type between them are not part of it); -1 if it cannot be
 * added or is too long. Out of line, so that its buffer costs the untagged
 * line nothing (no stack protector, no larger frame).
 */
static __attribute__((noinline)) int32_t intern_tagged(key_table_t *t, const uint8_t *buf, int32_t start, int32_t key_end, int32_t tags_start,
                                                       int32_t tags_end, uint32_t hash, int *added) {
  uint8_t tagged[MAX_TAGGED_KEY];
  size_t key_len = (size_t)(key_end - start), tags_len = (size_t)(tags_end - tags_start);
  *added = 0;
  if (key_len + 1 + tags_len > sizeof tagged) return -1;
  memcpy(tagged, buf + start, key_len);
  tagged[key_len] = '|';
  memcpy(tagged + key_len + 1, buf + tags_start, tags_len);
  return intern(t, tagged, (uint32_t)(key_len + 1 + tags_len), hash, added);
}

/*
 * A "T" field's Unix seconds from *at (after the "T"): 1 to 12 digits, not
 * 0, as JavaScript's readTimestamp takes them. Leaves *at after them; 0 if
 * they are not (the line is then JavaScript's, which calls it bad).
 */
static int timestamp_field(const uint8_t *buf, int32_t *at, int32_t end, double *seconds) {
  int32_t i = *at;
  int64_t s = 0;
  for (; i < end && (unsigned)buf[i] - '0' <= 9; i++) {
    if (i - *at == MAX_TIMESTAMP_DIGITS) return 0;
    s = s * 10 + (buf[i] - '0');
  }
  if (s == 0) return 0;
  *seconds = (double)s;
  *at = i;
  return 1;
}

static int is_cardinality(const uint8_t *v, int32_t len) {
  static const char *const names[] = {"none", "low", "orchestrator", "high"};
  for (int k = 0; k < 4; k++)
    if ((size_t)len == strlen(names[k]) && memcmp(v, names[k], (size_t)len) == 0) return 1;
  return 0;
}

/* What a line's DogStatsD fields say, as far as the fast path takes them. */
typedef struct {
  double rate;      /* 1 if none */
  double timestamp; /* Unix seconds of a "T" field; -1 none */
  int32_t tags_start, tags_end; /* the first tag block (both the key's end: none) */
  int32_t bad_fields;           /* unknown fields */
  uint32_t hash;                /* the key's hash, with its tags' once they are read */
} fields_t;

/*
 * The DogStatsD fields from i (a "|") on, each to the next "|", in any
 * order, as JavaScript's readFields reads them, into *fl (which holds those
 * read before). Returns where the line ends (its newline, or end); -1 for a
 * line JavaScript must read: a "\r" (only the line's last byte may be one,
 * stripped there), a rate or timestamp that is not a plain one, a container
 * ID that JavaScript makes a tag (containerIdTag), and an empty field or
 * one that starts like a number (Etsy's bad sample rate right after the
 * type). Out of line: the common line has no field but a rate and tags.
 */
static __attribute__((noinline)) int32_t more_fields(const key_table_t *t, const uint8_t *buf, int32_t i, int32_t end, int32_t key_end, fields_t *fl) {
  while (i < end && buf[i] == '|') {
    int32_t f = ++i;
    int first = f < end ? buf[f] : '\n';
    if (first == '#' && fl->tags_end == fl->tags_start) {
      /* The first tag block only (an empty one is none, as in JavaScript); another is an unknown field. */
      uint64_t tags_hash = fl->hash;
      fl->tags_start = f + 1;
      i = fl->tags_end = tags_scan(buf, fl->tags_start, end, &tags_hash);
      if (fl->tags_end > fl->tags_start) fl->hash = (uint32_t)(tags_hash ^ (tags_hash >> 32)) ^ 0x5bd1e995u;
      else fl->tags_start = fl->tags_end = key_end;
      continue;
    }
    if (first == '@') {
      i = f + 1;
      if (!plain_decimal(buf, &i, end, &fl->rate) || !(fl->rate > 0 && fl->rate <= 1)) return -1;
      continue;
    }
    if (first == 'T') {
      i = f + 1;
      if (!timestamp_field(buf, &i, end, &fl->timestamp)) return -1;
      continue;
    }
    for (; i < end && buf[i] != '|' && buf[i] != '\n'; i++)
      if (buf[i] == '\r') return -1;
    int32_t len = i - f;
    if (len == 0) return -1;
    if (len >= 2 && buf[f + 1] == ':' && (first == 'c' || first == 'e')) {
      /* Read and not used: a container ID (unless it becomes a tag), external data. */
      if (first == 'c' && t->state[STATE_CONTAINER_TAG]) return -1;
    } else if (len >= 5 && memcmp(buf + f, "card:", 5) == 0 && is_cardinality(buf + f + 5, len - 5)) {
      /* Tells the Datadog agent which tags to add from its tagger: nothing to add here. */
    } else if (first == '.' || (first >= '0' && first <= '9')) {
      return -1;
    } else {
      fl->bad_fields++;
    }
  }
  return i;
}

/* One line from buf[start]; returns where the next one starts. Adds at most RECORDS_PER_LINE records. */
static int32_t parse_line(key_table_t *t, const uint8_t *buf, int32_t start, int32_t end, uint32_t *n) {
  if (buf[start] == '\n') return start + 1; /* an empty line: nothing, as in JavaScript */
  uint32_t hash;
  int32_t key_end = key_scan(buf, start, end, &hash);
  int32_t i = key_end;
  if (key_end == start || i >= end || buf[i] != ':') goto slow;
  i++;
  int negative = 0, sign = 0;
  if (i < end && (buf[i] == '-' || buf[i] == '+')) {
    sign = 1;
    negative = buf[i] == '-';
    i++;
  }
  double value;
  if (!plain_decimal(buf, &i, end, &value) || i >= end || buf[i] != '|') goto slow;
  if (negative) value = -value;
  i++;
  if (i >= end) goto slow;
  int kind;
  switch (buf[i++]) {
    case 'c':
      kind = REC_COUNTER;
      break;
    case 'g':
      kind = sign ? REC_GAUGE_DELTA : REC_GAUGE;
      break;
    case 'h':
    case 'd':
      kind = REC_HISTOGRAM;
      break;
    case 'm':
      if (i >= end || buf[i++] != 's') goto slow;
      kind = REC_TIMER;
      break;
    default:
      goto slow;
  }
  if (value < 0 && (kind == REC_TIMER || kind == REC_HISTOGRAM)) goto slow;
  double rate = 1;
  int32_t tags_start = key_end, tags_end = key_end;
  if (i < end && buf[i] == '|') {
    /* The usual fields inline, in the usual order (DogStatsD clients': rate, then tags). */
    if (i + 1 < end && buf[i + 1] == '@') {
      i += 2;
      if (!plain_decimal(buf, &i, end, &rate) || !(rate > 0 && rate <= 1)) goto slow;
    }
    if (i + 1 < end && buf[i] == '|' && buf[i + 1] == '#') {
      uint64_t tags_hash = hash;
      tags_start = i + 2;
      i = tags_end = tags_scan(buf, tags_start, end, &tags_hash);
      /* No tags ("|#" alone) is no tags, as in JavaScript. */
      if (tags_end > tags_start) hash = (uint32_t)(tags_hash ^ (tags_hash >> 32)) ^ 0x5bd1e995u;
      else tags_start = tags_end = key_end;
    }
    if (__builtin_expect(i < end && buf[i] == '|', 0)) {
      /*
       * In memory only here, and their records written here, before the
       * value's: the common line carries nothing more across the key
       * lookup. If the line still goes to JavaScript (a key it cannot
       * intern), JavaScript drops them on seeing its record: undoing them
       * here cost the common line 4 instructions (register allocation).
       */
      fields_t fl = {rate, -1, tags_start, tags_end, 0, hash};
      i = more_fields(t, buf, i, end, key_end, &fl);
      if (i < 0 || (i < end && buf[i] != '\n')) goto slow;
      rate = fl.rate;
      tags_start = fl.tags_start;
      tags_end = fl.tags_end;
      hash = fl.hash;
      if (fl.bad_fields > 0) record(t, n, REC_BAD_FIELDS, start, i, fl.bad_fields, 0);
      if (fl.timestamp >= 0) {
        /*
         * A point at its time, never part of the interval: a counter is
         * never added directly nor bound (JavaScript reads an unbound one
         * after a time as a counter point), and stops no direct adds.
         */
        record(t, n, REC_POINT_TIME, start, i, fl.timestamp, 0);
        if (kind == REC_COUNTER) kind = REC_UNBOUND_COUNTER;
      }
    }
  }
  if (i < end && buf[i] != '\n') goto slow;
  int added;
  int32_t id = tags_end == key_end ? intern(t, buf + start, (uint32_t)(key_end - start), hash, &added)
                                   : intern_tagged(t, buf, start, key_end, tags_start, tags_end, hash, &added);
  if (id < 0) goto slow;
  if (kind == REC_COUNTER && t->values != NULL && t->row1[id] != 0) {
    size_t row = t->row1[id] - 1;
    /* As the aggregator's onCounter: the value times the inverse rate, each step finite. */
    double increment = value * (1 / rate), sum = row < t->values_len ? t->values[row] + increment : NAN;
    if (isfinite(increment) && isfinite(sum)) {
      t->values[row] = sum;
      t->hits[id]++;
      t->summed++;
      return i + 1;
    }
  }
  if (kind == REC_COUNTER) {
    /*
     * A counter JavaScript adds: so are all after it in this call, or one of
     * them could overtake it (two raw keys may name the same metric).
     */
    t->values = NULL;
    if (t->row1[id] == 0) kind = REC_UNBOUND_COUNTER;
  }
  if (added) record(t, n, REC_NEW_KEY | (id << KIND_BITS), start, key_end, tags_start, tags_end);
  record(t, n, kind | (id << KIND_BITS), start, i, value, rate);
  return i + 1;

slow:;
  /* From the line's start: the scan above may have stepped over its newline. */
  const uint8_t *newline = memchr(buf + start, '\n', (size_t)(end - start));
  int32_t line_end = newline == NULL ? end : (int32_t)(newline - buf);
  /* Counters after one for JavaScript go there too, in order. */
  if (t->values != NULL && may_count(buf, start, line_end)) t->values = NULL;
  record(t, n, REC_SLOW_LINE, start, line_end, 0, 0);
  return line_end + 1;
}

static key_table_t *get_table(napi_env env, napi_value value) {
  void *t = NULL;
  if (napi_get_value_external(env, value, &t) != napi_ok) return NULL;
  return t;
}

/*
 * (ops: Int32Array, vals: Float64Array, state: Int32Array(>= 6), binds: Int32Array) -> table;
 * records fit min(ops / 3, vals / 2), binds binds / 2 pairs.
 */
static napi_value CreateKeyTable(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *ops, *vals, *state, *binds;
  size_t ops_len, vals_len, state_len, binds_len;
  if (argc < 4 || !typed_array(env, argv[0], napi_int32_array, &ops, &ops_len) ||
      !typed_array(env, argv[1], napi_float64_array, &vals, &vals_len) ||
      !typed_array(env, argv[2], napi_int32_array, &state, &state_len) || state_len < STATE_LEN || ops_len < 6 || vals_len < 4 ||
      !typed_array(env, argv[3], napi_int32_array, &binds, &binds_len)) {
    napi_throw_type_error(env, NULL, "createKeyTable(ops: Int32Array, vals: Float64Array, state: Int32Array, binds: Int32Array)");
    return NULL;
  }
  key_table_t *t = calloc(1, sizeof *t);
  if (t == NULL || !alloc_slots(t, INITIAL_SLOTS) || (t->key_start = malloc(INITIAL_SLOTS * sizeof *t->key_start)) == NULL ||
      (t->key_len = malloc(INITIAL_SLOTS * sizeof *t->key_len)) == NULL || (t->row1 = malloc(INITIAL_SLOTS * sizeof *t->row1)) == NULL ||
      (t->hits = malloc(INITIAL_SLOTS * sizeof *t->hits)) == NULL || (t->arena = malloc(16384)) == NULL) {
    if (t != NULL) free_table(t);
    napi_throw_error(env, "ENOMEM", "statsd_parse: cannot allocate a key table");
    return NULL;
  }
  t->ids_cap = INITIAL_SLOTS;
  t->arena_cap = 16384;
  t->ops = ops;
  t->vals = vals;
  t->state = state;
  t->binds = binds;
  t->records_cap = (uint32_t)(ops_len / 3 < vals_len / 2 ? ops_len / 3 : vals_len / 2);
  t->binds_cap = (uint32_t)(binds_len / 2);
  /* The arrays stay alive (and where they are) as long as the table. */
  for (int i = 0; i < 4; i++) CHECK(napi_create_reference(env, argv[i], 1, &t->refs[i]));
  napi_value handle;
  if (napi_create_external(env, t, finalize_table, NULL, &handle) != napi_ok) {
    finalize_table(env, t, NULL);
    napi_throw_error(env, NULL, "statsd_parse: napi_create_external failed");
    return NULL;
  }
  return handle;
}

/* Applies what JavaScript wrote to state and binds since the last call (see STATE_*). */
static void apply_binds(key_table_t *t) {
  if (t->state[STATE_UNBIND_ALL]) memset(t->row1, 0, t->count * sizeof *t->row1);
  t->state[STATE_UNBIND_ALL] = 0;
  uint32_t binds = (uint32_t)t->state[STATE_BINDS];
  if (binds > t->binds_cap) binds = t->binds_cap;
  for (uint32_t b = 0; b < binds; b++) {
    int32_t id = t->binds[2 * b], row = t->binds[2 * b + 1];
    if (id >= 0 && (uint32_t)id < t->count && row >= 0) t->row1[id] = (uint32_t)row + 1;
  }
  t->state[STATE_BINDS] = 0;
}

/*
 * (table, buf, pos, ends: Int32Array, index, count, values: Float64Array | null)
 * -> records written. Parses buf from pos: packet `index` ends at
 * ends[index], and so on up to packet count - 1 (a line never runs past its
 * packet's end). state says where it stopped (STATE_INDEX == count when all
 * is done) and how many lines it added straight into `values`, the
 * counters' column (none if null).
 */
static napi_value ParseLines(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  key_table_t *t = argc == 7 ? get_table(env, argv[0]) : NULL;
  void *data, *values = NULL;
  size_t length, values_len = 0;
  int32_t *ends;
  size_t ends_len;
  int32_t pos, index, count;
  napi_valuetype values_type = napi_undefined;
  if (t == NULL || napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok ||
      napi_get_value_int32(env, argv[2], &pos) != napi_ok || !typed_array(env, argv[3], napi_int32_array, (void **)&ends, &ends_len) ||
      napi_get_value_int32(env, argv[4], &index) != napi_ok || napi_get_value_int32(env, argv[5], &count) != napi_ok ||
      index < 0 || count < index || (size_t)count > ends_len || pos < 0 || napi_typeof(env, argv[6], &values_type) != napi_ok ||
      (values_type != napi_null && !typed_array(env, argv[6], napi_float64_array, &values, &values_len))) {
    napi_throw_type_error(env, NULL, "parseLines(table, buf, pos, ends, index, count, values)");
    return NULL;
  }
  apply_binds(t);
  t->values = values;
  t->values_len = values_len;
  t->summed = 0;
  const uint8_t *buf = data;
  uint32_t n = 0;
  for (; index < count; index++) {
    int32_t end = ends[index];
    if (end < pos || (size_t)end > length) {
      napi_throw_range_error(env, NULL, "parseLines: a packet end lies outside the buffer");
      return NULL;
    }
    while (pos < end) {
      if (n + RECORDS_PER_LINE > t->records_cap) goto full;
      pos = parse_line(t, buf, pos, end, &n);
    }
    pos = end;
  }
full:
  t->state[STATE_POS] = pos;
  t->state[STATE_INDEX] = index;
  t->state[STATE_SUMMED] = t->summed;
  t->values = NULL;
  napi_value result;
  CHECK(napi_create_uint32(env, n, &result));
  return result;
}

/* (table): forgets every key; ids start again from 0. */
static napi_value ClearKeyTable(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  key_table_t *t = argc == 1 ? get_table(env, argv[0]) : NULL;
  if (t == NULL) {
    napi_throw_type_error(env, NULL, "clearKeyTable(table)");
    return NULL;
  }
  memset(t->slot_ids, 0, t->slots * sizeof *t->slot_ids);
  t->count = 0;
  t->arena_used = 0;
  t->state[STATE_BINDS] = 0;
  return NULL;
}

/*
 * (table, out: Int32Array, from) -> pairs written: (id, hits) for each id
 * from `from` on that has had lines added directly, as many as fit in out,
 * zeroing them; state[STATE_NEXT_ID] says where to go on (the table's
 * size when done).
 */
static napi_value TakeHits(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  key_table_t *t = argc == 3 ? get_table(env, argv[0]) : NULL;
  int32_t *out;
  size_t out_len;
  uint32_t from;
  if (t == NULL || !typed_array(env, argv[1], napi_int32_array, (void **)&out, &out_len) ||
      napi_get_value_uint32(env, argv[2], &from) != napi_ok) {
    napi_throw_type_error(env, NULL, "takeHits(table, out: Int32Array, from)");
    return NULL;
  }
  uint32_t pairs = 0, id = from;
  for (; id < t->count && pairs < out_len / 2; id++) {
    if (t->hits[id] == 0) continue;
    out[2 * pairs] = (int32_t)id;
    out[2 * pairs + 1] = (int32_t)t->hits[id];
    t->hits[id] = 0;
    pairs++;
  }
  t->state[STATE_NEXT_ID] = (int32_t)id;
  napi_value result;
  CHECK(napi_create_uint32(env, pairs, &result));
  return result;
}

void statsd_parse_init(napi_env env, napi_value exports) {
  EXACT_POW10[0] = 1;
  for (int i = 1; i <= MAX_FAST_DIGITS; i++) EXACT_POW10[i] = EXACT_POW10[i - 1] * 10;
  napi_property_descriptor props[] = {
    {"createKeyTable", NULL, CreateKeyTable, NULL, NULL, NULL, napi_default, NULL},
    {"parseLines", NULL, ParseLines, NULL, NULL, NULL, napi_default, NULL},
    {"clearKeyTable", NULL, ClearKeyTable, NULL, NULL, NULL, napi_default, NULL},
    {"takeHits", NULL, TakeHits, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
