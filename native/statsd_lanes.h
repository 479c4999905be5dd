#ifndef STATSD_LANES_H
#define STATSD_LANES_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "statsd_epoch.h"

/*
 * A reader thread's lanes: one byte ring per shard that the reader routes
 * each datagram's lines into and the shard's worker thread reads in place
 * (src/aggregate/shards/lanes.ts reads what statsd_lanes.c writes). The
 * layouts here and there must agree.
 */
#define LANES_MAX 256
/* Int32 indices into a lane's control array (head and tail on cache lines of their own). */
#define LANE_HEAD 0   /* the worker's: next record to read */
#define LANE_TAIL 16  /* the reader's: end of the records published */
#define LANE_WAKE 32  /* 1 while a wake-up is pending: the worker clears it before it reads */
#define LANE_LINES 48 /* lines published, ever (the main thread's count of lines a failed shard held) */
#define LANE_CONTROL_INTS 64
/*
 * A record: int32 fields, then `length` bytes of lines, each with its newline; records are 4-byte aligned.
 * REC_EPOCH: the flush interval its lines belong to (statsd_epoch.h): a shard reads no record of a later
 * interval before it has taken the one in progress.
 */
enum { REC_LENGTH, REC_SOURCE, REC_PACKETS, REC_BYTES, REC_PID, REC_UID, REC_LINES, REC_EPOCH, REC_FIELDS };
#define REC_HEADER (REC_FIELDS * 4)
/* REC_LENGTH of this value: the records go on at offset 0. */
#define REC_WRAP (-1)
/* What lanes_route may read past a datagram, and write past a line in a lane (room it has checked). */
#define LANES_SLACK 16

/* A sender's pid and uid as one word: the open record's is compared on every line. */
#define lane_sender(pid, uid) ((int64_t)(((uint64_t)(uint32_t)(pid) << 32) | (uint32_t)(uid)))
#define LANE_NO_SENDER INT64_MIN

typedef struct {
  uint8_t *bytes;
  uint32_t size;
  _Atomic int32_t *control;
  int32_t doorbell;
  /* The reader's own. */
  uint32_t write;     /* where the next byte goes (published up to control[LANE_TAIL]) */
  int64_t open;       /* where the record being filled starts, or -1 */
  int64_t sender;     /* its sender's pid and uid (lane_sender), or LANE_NO_SENDER when none is open */
  int32_t rec[REC_FIELDS]; /* its header, written there when it closes */
  uint32_t lines;     /* lines in the records closed since the last publish */
  int unrung;         /* published since the doorbell was last rung (or found pending) */
} lane_t;

typedef struct {
  lane_t lane[LANES_MAX];
  uint32_t count;
  int token;          /* the listener takes auth tokens (route.ts: the hash skips them) */
  int32_t source;     /* the listener's index */
  epoch_t epoch;      /* the interval the records being routed belong to (statsd_epoch.h) */
} lanes_t;

/*
 * Routes one datagram's lines into the lanes (each datagram counts, as a
 * packet of `len` bytes, in the record of its first line's shard). Returns
 * 0, writing nothing, when some lane has no room for it: the caller drops
 * and counts it. Never waits. LANES_SLACK bytes past data[len] must be
 * readable: lines are looked at and copied 16 bytes at a time, and what
 * is read past the datagram is never used.
 */
int lanes_route(lanes_t *lanes, const uint8_t *data, size_t len, int32_t pid, int32_t uid);
/*
 * Makes what was routed visible to the workers. With `ring`, wakes those
 * that have no wake-up pending and were given lines since they were last
 * woken; without, only those whose lane is filling (a quarter unread). The
 * reader publishes after each recvmmsg() batch and rings at the end of each
 * read pass: one wake-up per pass rather than per batch, at most one pass
 * (CALLS_PER_WAKEUP batches, about a millisecond at most) late.
 */
void lanes_publish(lanes_t *lanes, int ring);

#endif
