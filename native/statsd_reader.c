/*
 * Datagram reading on a thread of its own: UDP and Unix datagram sockets are
 * read with recvmmsg() in a loop on a native thread that does nothing else,
 * so reading never waits for JavaScript (parsing, aggregation, a flush, a
 * GC pause). Datagrams are copied back to back into slabs of shared memory
 * that JavaScript lends the thread (a SharedArrayBuffer: it costs no
 * ArrayBuffer per batch, and V8 leaves it out of its external-memory figure,
 * see src/core/uncounted-memory.ts). A filled slab is handed to the
 * JavaScript thread through a bounded ring (statsd_ring.c) and a uv_async
 * wakeup; JavaScript gives each slab back once it has parsed it.
 *
 * The slabs and the ring are the queue: bounded by the queue's maxBytes (the
 * number of slabs) and maxPackets (datagrams handed over and not yet given
 * back). When they are full the thread still reads, and drops and counts
 * what it cannot keep (queue.dropped_packets): the kernel then drops only
 * when the thread itself cannot keep up.
 *
 * A slab is handed over as soon as it is full, or when the socket is empty
 * and JavaScript has taken every slab handed over before; while JavaScript
 * has not (a stall: a long flush, a GC pause, a busy loop), the thread keeps
 * filling the slab it has, so a stall fills whole slabs, not one per
 * wakeup. Slabs given back are filled again last-in first-out, so that in
 * steady traffic only a few are ever touched; when the thread goes idle,
 * the memory of all but the KEEP_RESIDENT most recent is given back to the
 * kernel (madvise), those JavaScript gives back later included, so a
 * backlog does not leave its peak resident.
 *
 * Most clients send one metric per datagram: woken for each, the thread
 * would spend most of its time going to sleep and waking up. So, on a UDP
 * socket with a receive buffer of at least MIN_COALESCING_RCVBUF (as the
 * kernel reports it: twice recvBufferSize), while datagrams keep coming the
 * thread sleeps between reads instead of waiting for readiness, and takes
 * whatever arrived meanwhile in one go. The first sleep after a quiet spell
 * is 1 ms; later ones are sized from the rate just seen so that a sleep
 * (and a millisecond of lateness) fills at most a quarter of the buffer, up
 * to 8 ms; a rate too high even for 1 ms goes back to waiting for
 * readiness. A Unix datagram socket queues at most net.unix.max_dgram_qlen
 * datagrams (10 by default) before its senders block or fail: it is always
 * read on readiness.
 *
 * With several aggregation threads, the reader is given lanes instead
 * (statsd_lanes.c): it splits each datagram into lines and copies each into
 * the lane of the thread its name hashes to, publishing after every
 * recvmmsg() batch and ringing the threads' doorbells once per read pass
 * (sooner for a lane a quarter full); the slabs then stay unused, and a
 * datagram that does not fit in the lanes is dropped and counted as above.
 * Each batch's lines are stamped with the flush interval read at its start
 * (statsd_epoch.h), so a datagram never straddles a flush.
 *
 * Origin (a unixgram listener's originTags): with an origins array, the
 * socket gets SO_PASSCRED and each datagram's SCM_CREDENTIALS (the sender's
 * PID and UID, as the kernel vouches for them) is written beside its end
 * offset, two int32 per datagram. Without one, nothing of this runs.
 */
#define _GNU_SOURCE
#include "statsd_reader.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "statsd_lanes.h"
#include "statsd_ring.h"
#include "napi_helpers.h"

#define VLEN 64                 /* datagrams per recvmmsg() */
#define SLOT_BYTES 65536        /* room per datagram: any UDP datagram fits; a bigger unixgram one is cut (MSG_TRUNC) */
#define CALLS_PER_WAKEUP 16     /* then hand over what was read before reading on */
#define STOP_CALLS 4096         /* the most a close reads before the thread ends (a client may never stop sending) */
#define KEEP_RESIDENT 8         /* free slabs whose memory stays resident while idle */
#define IDLE_HOLD_MS 1          /* how soon a held part-filled slab is looked at again */
#define TRIM_AGAIN_MS 50        /* idle with slabs still out: how soon to trim those given back since */
#define ERROR_PAUSE_MS 10       /* after a failed read, so that a lasting error does not spin */
#define MIN_TICK_MS 1
#define MAX_TICK_MS 8
#define MIN_COALESCING_RCVBUF (1 << 20)
/* What a datagram costs against SO_RCVBUF beyond its payload (the kernel's
 * skb overhead: 256 small datagrams fill the default 212992 bytes). */
#define DATAGRAM_OVERHEAD 800

/* readerStats' figures, in this order. */
enum { STAT_READ, STAT_DROPPED, STAT_DROPPED_BYTES, STAT_TRUNCATED, STAT_ERRORS, STAT_LAST_ERRNO, STAT_QUEUED, STAT_QUEUED_SLABS, STAT_COUNT };

typedef struct {
  /* Set by the JavaScript thread before the reader starts; read-only after. */
  int fd;
  int wake_fd;                  /* eventfd: stop now */
  int ticks;                    /* whether to sleep between reads while traffic lasts (see the top) */
  int rcvbuf;                   /* SO_RCVBUF as the kernel reports it (what it charges against) */
  char *slabs;
  size_t slab_count, slab_bytes;
  int32_t *ends;                /* ends_per_slab end offsets per slab */
  size_t ends_per_slab;
  int32_t *origins;             /* null, or (pid, uid) per end offset (see the top) */
  uint32_t *counts;             /* datagrams in each slab handed over */
  size_t max_queued;            /* datagrams handed over and not given back */
  ring_t full;                  /* thread -> JavaScript: slabs to parse */
  ring_t freed;                 /* JavaScript -> thread: slabs given back */
  lanes_t *lanes;               /* with several shards: lines go straight to them (statsd_lanes.c), not into slabs */

  /* The reader thread's own. */
  int32_t *stack;               /* free slabs, last given back on top */
  size_t stack_len;
  size_t fresh;                 /* slabs never used yet: [fresh, slab_count) */
  unsigned char *trimmed;       /* per slab: memory given back to the kernel */
  int32_t cur;                  /* the slab being filled, -1 if none */
  size_t cur_bytes;
  uint32_t cur_count;
  uint64_t window_start;        /* since when window_* have counted (ms) */
  size_t window_bytes, window_datagrams;
  char *scratch;                /* VLEN * SLOT_BYTES, and LANES_SLACK for lanes_route to read past the last */
  struct mmsghdr msgs[VLEN];
  struct iovec iovs[VLEN];
  char *control;                /* VLEN control buffers for SCM_CREDENTIALS, with origins only */

  /* Shared. */
  _Atomic int stop;
  _Atomic size_t queued;        /* datagrams in slabs handed over, not yet given back */
  _Atomic int32_t queued_slabs;
  _Atomic uint64_t read, dropped, dropped_bytes, truncated, errors;
  _Atomic int last_errno;

  /* The JavaScript thread's own. */
  pthread_t thread;
  int closed;
  int holders;                  /* the external handle and the async handle: freed when both are gone */
  uint64_t events_seen;         /* drops, cuts and errors JavaScript was told of */
  uv_async_t async;
  napi_env env;
  napi_ref on_event;            /* (slab index, datagrams) => void; (-1, 0): see readerStats */
  napi_ref refs[4];             /* keep the slabs, their ends, origins and lanes alive while the thread writes them */
  napi_async_context async_context;
} reader_t;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t events(reader_t *r) {
  return atomic_load_explicit(&r->dropped, memory_order_relaxed) + atomic_load_explicit(&r->truncated, memory_order_relaxed) +
         atomic_load_explicit(&r->errors, memory_order_relaxed);
}

/* ---- The reader thread ---- */

static void collect_freed(reader_t *r) {
  int32_t index;
  while (ring_pop(&r->freed, &index)) r->stack[r->stack_len++] = index;
}

static int32_t take_slab(reader_t *r) {
  int32_t index;
  collect_freed(r);
  if (r->stack_len > 0) {
    index = r->stack[--r->stack_len];
    r->trimmed[index] = 0;
    return index;
  }
  return r->fresh < r->slab_count ? (int32_t)r->fresh++ : -1;
}

/* Gives the memory of free slabs beyond the KEEP_RESIDENT most recent back to the kernel. */
static void trim(reader_t *r) {
  long page = sysconf(_SC_PAGESIZE);
  collect_freed(r);
  for (size_t i = 0; i + KEEP_RESIDENT < r->stack_len; i++) {
    int32_t index = r->stack[i];
    if (r->trimmed[index]) continue;
    r->trimmed[index] = 1;
    uintptr_t start = (uintptr_t)(r->slabs + (size_t)index * r->slab_bytes);
    uintptr_t end = start + r->slab_bytes;
    start = (start + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    end &= ~((uintptr_t)page - 1);
    if (end > start) madvise((void *)start, end - start, MADV_DONTNEED);
  }
}

static void hand_over(reader_t *r) {
  if (r->cur < 0 || r->cur_count == 0) return;
  r->counts[r->cur] = r->cur_count;
  atomic_fetch_add_explicit(&r->queued, r->cur_count, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->queued_slabs, 1, memory_order_relaxed);
  ring_push(&r->full, r->cur); /* never full: it has room for every slab */
  r->cur = -1;
  r->cur_bytes = 0;
  r->cur_count = 0;
  uv_async_send(&r->async);
}

static void drop(reader_t *r, size_t len) {
  atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->dropped_bytes, len, memory_order_relaxed);
}

/* Copies one datagram into the current slab; returns its slot (index into ends), or -1 if it was dropped. */
static long keep(reader_t *r, const char *data, size_t len) {
  if (atomic_load_explicit(&r->queued, memory_order_relaxed) + r->cur_count >= r->max_queued) {
    drop(r, len);
    return -1;
  }
  if (r->cur >= 0 && (r->cur_bytes + len > r->slab_bytes || r->cur_count == r->ends_per_slab)) hand_over(r);
  if (r->cur < 0 && (r->cur = take_slab(r)) < 0) {
    drop(r, len);
    return -1;
  }
  memcpy(r->slabs + (size_t)r->cur * r->slab_bytes + r->cur_bytes, data, len);
  r->cur_bytes += len;
  size_t slot = (size_t)r->cur * r->ends_per_slab + r->cur_count++;
  r->ends[slot] = (int32_t)r->cur_bytes;
  return (long)slot;
}

/* The sender's PID and UID from a datagram's SCM_CREDENTIALS; -1 each if it has none. */
static void origin_of(struct msghdr *h, int32_t *pid, int32_t *uid) {
  *pid = *uid = -1;
  if (h->msg_flags & MSG_CTRUNC) return;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
      struct ucred cred;
      memcpy(&cred, CMSG_DATA(c), sizeof cred);
      *pid = (int32_t)cred.pid;
      *uid = (int32_t)cred.uid;
    }
  }
}

/* One datagram, with its sender's pid and uid: into the current slab, or routed into the shards' lanes. */
static void take_datagram(reader_t *r, const char *data, size_t len, int32_t pid, int32_t uid) {
  if (r->lanes != NULL) {
    if (!lanes_route(r->lanes, (const uint8_t *)data, len, pid, uid)) drop(r, len);
    return;
  }
  long slot = keep(r, data, len);
  if (slot >= 0 && r->origins != NULL) {
    r->origins[2 * slot] = pid;
    r->origins[2 * slot + 1] = uid;
  }
}

/* One recvmmsg(): the datagrams read, 0 when none was waiting, -errno on error. */
static int read_once(reader_t *r) {
  int n;
  if (r->origins != NULL) {
    /* The kernel sets each controllen to what it wrote: give every one its room back. */
    for (int i = 0; i < VLEN; i++) r->msgs[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(struct ucred));
  }
  do n = recvmmsg(r->fd, r->msgs, VLEN, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    atomic_store_explicit(&r->last_errno, errno, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
    return -errno;
  }
  uint64_t dropped_before = events(r);
  if (r->lanes != NULL) epoch_batch_begin(&r->lanes->epoch);
  for (int i = 0; i < n; i++) {
    unsigned len = r->msgs[i].msg_len;
    if (r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
      atomic_fetch_add_explicit(&r->truncated, 1, memory_order_relaxed);
    } else if (len > 0) {
      int32_t pid = -1, uid = -1;
      if (r->origins != NULL) origin_of(&r->msgs[i].msg_hdr, &pid, &uid);
      take_datagram(r, r->iovs[i].iov_base, len, pid, uid);
      r->window_bytes += len;
    }
  }
  r->window_datagrams += (size_t)n;
  /* Published each batch, not each pass: a pass may read 16 batches, more than a lane holds unread. Rung once a pass (run). */
  if (r->lanes != NULL) {
    lanes_publish(r->lanes, 0);
    epoch_batch_end(&r->lanes->epoch);
  }
  atomic_fetch_add_explicit(&r->read, (uint64_t)n, memory_order_relaxed);
  if (events(r) != dropped_before) uv_async_send(&r->async); /* JavaScript counts drops as they happen */
  return n;
}

/* Waits up to ms (-1: without end) for the stop signal, and for the socket if `socket`. */
static void wait_for(reader_t *r, int socket, int ms) {
  struct pollfd fds[2] = {{.fd = r->wake_fd, .events = POLLIN}, {.fd = r->fd, .events = POLLIN}};
  r->window_start = now_ms();
  r->window_bytes = 0;
  r->window_datagrams = 0;
  poll(fds, socket ? 2 : 1, ms); /* EINTR, a timeout or readiness: the caller reads and decides again */
}

/*
 * The next sleep: what the rate just seen takes to fill a quarter of the
 * receive buffer, less a millisecond of lateness; 0 when that leaves less
 * than MIN_TICK_MS.
 */
static int next_tick_ms(reader_t *r) {
  uint64_t elapsed = now_ms() - r->window_start;
  double charged = (double)r->window_bytes + (double)DATAGRAM_OVERHEAD * (double)r->window_datagrams;
  if (elapsed < 1) elapsed = 1;
  double ms = charged > 0 ? (r->rcvbuf / 4.0) * (double)elapsed / charged - 1 : MAX_TICK_MS;
  return ms < MIN_TICK_MS ? 0 : ms > MAX_TICK_MS ? MAX_TICK_MS : (int)ms;
}

static void *run(void *arg) {
  reader_t *r = arg;
  pthread_setname_np(pthread_self(), "statsd reader"); /* per-thread CPU figures tell it apart */
  int ticking = 0; /* the last wait's sleep between reads, ms; 0: the last wait was for readiness */
  for (;;) {
    int stopping = atomic_load(&r->stop);
    int n = 0, got = 0;
    for (int calls = 0; calls < (stopping ? STOP_CALLS : CALLS_PER_WAKEUP); calls++) {
      n = read_once(r);
      if (n > 0) got += n;
      if (n < VLEN) break;
    }
    if (r->lanes != NULL) lanes_publish(r->lanes, 1);
    if (stopping) break;
    if (r->cur_count > 0 && ring_length(&r->full) == 0) hand_over(r);
    if (n < 0) {
      wait_for(r, 0, ERROR_PAUSE_MS);
    } else if (n == VLEN) {
      continue; /* more waiting */
    } else if (r->ticks && got > 0 && (ticking = ticking ? next_tick_ms(r) : MIN_TICK_MS) > 0) {
      wait_for(r, 0, ticking);
    } else {
      /*
       * Quiet, or too fast for sleeps: wait for readiness. A slab held back is
       * looked at again soon. A pass that read nothing trims the free slabs;
       * while slabs are still out (a backlog JavaScript is still parsing), or
       * after reading on readiness (a pass never finds nothing then), the
       * thread looks again a little later, so that the slabs given back once
       * traffic stopped are trimmed too: trimmed only when traffic stopped, a
       * backlog at 1.6M metrics/s stayed resident (11 MB) until it resumed.
       */
      ticking = 0;
      int out = atomic_load_explicit(&r->queued_slabs, memory_order_relaxed) > 0;
      int wait_ms = -1;
      if (r->cur_count > 0) {
        wait_ms = IDLE_HOLD_MS;
      } else if (got == 0) {
        trim(r);
        if (out) wait_ms = TRIM_AGAIN_MS;
      } else if (out || r->stack_len > KEEP_RESIDENT) {
        wait_ms = TRIM_AGAIN_MS;
      }
      wait_for(r, 1, wait_ms);
    }
  }
  hand_over(r);
  if (r->lanes != NULL) lanes_publish(r->lanes, 1);
  uv_async_send(&r->async);
  return NULL;
}

/* ---- The JavaScript thread ---- */

static void free_reader(reader_t *r) {
  ring_free(&r->full);
  ring_free(&r->freed);
  free(r->counts);
  free(r->stack);
  free(r->trimmed);
  free(r->scratch);
  free(r->control);
  free(r->lanes);
  free(r);
}

static void release(reader_t *r) {
  if (--r->holders == 0) free_reader(r);
}

static void on_async_closed(uv_handle_t *handle) {
  release((reader_t *)handle->data);
}

static void on_handle_collected(napi_env env, void *data, void *hint) {
  reader_t *r = data;
  /* Never closed (the process is exiting): the thread may still be reading; leave it be. */
  if (r->closed) release(r);
}

/* Hands JavaScript every slab the thread has filled, then tells it of new drops if there are any. */
static void deliver(reader_t *r) {
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[2], result;
  napi_get_reference_value(env, r->on_event, &fn);
  napi_get_global(env, &recv);
  int32_t index;
  for (;;) {
    uint64_t seen = events(r);
    int got = ring_pop(&r->full, &index);
    if (!got) {
      if (seen == r->events_seen) break;
      r->events_seen = seen;
      index = -1;
    }
    napi_create_int32(env, index, &argv[0]);
    napi_create_uint32(env, got ? r->counts[index] : 0, &argv[1]);
    if (napi_make_callback(env, r->async_context, recv, fn, 2, argv, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
    if (!got) break;
  }
  napi_close_handle_scope(env, scope);
}

static void on_async(uv_async_t *handle) {
  reader_t *r = handle->data;
  if (!r->closed) deliver(r);
}

static reader_t *get_reader(napi_env env, napi_value value) {
  void *r = NULL;
  if (napi_get_value_external(env, value, &r) != napi_ok) return NULL;
  return (reader_t *)r;
}

/*
 * The lanes argument: { token, source, bytes: Uint8Array[], controls:
 * Int32Array[], doorbells: Int32Array }, one of each per shard, all shared
 * memory (src/aggregate/shards/lanes.ts). Returns NULL, having thrown, if
 * it is malformed.
 */
static lanes_t *read_lanes(napi_env env, napi_value spec) {
  napi_value bytes, controls, doorbells, token, source, interval, batch;
  uint32_t count = 0, controls_count = 0;
  bool token_value = false;
  int32_t source_value = 0, *bells = NULL, *interval_word = NULL, *batch_word = NULL;
  size_t bells_len = 0, interval_len = 0, batch_len = 0;
  if (napi_get_named_property(env, spec, "bytes", &bytes) != napi_ok || napi_get_named_property(env, spec, "controls", &controls) != napi_ok ||
      napi_get_named_property(env, spec, "interval", &interval) != napi_ok || napi_get_named_property(env, spec, "batch", &batch) != napi_ok ||
      !typed_array(env, interval, napi_int32_array, (void **)&interval_word, &interval_len) || interval_len < 1 ||
      !typed_array(env, batch, napi_int32_array, (void **)&batch_word, &batch_len) || batch_len < 1 ||
      napi_get_named_property(env, spec, "doorbells", &doorbells) != napi_ok || napi_get_named_property(env, spec, "token", &token) != napi_ok ||
      napi_get_named_property(env, spec, "source", &source) != napi_ok || napi_get_array_length(env, bytes, &count) != napi_ok ||
      napi_get_array_length(env, controls, &controls_count) != napi_ok || napi_get_value_bool(env, token, &token_value) != napi_ok ||
      napi_get_value_int32(env, source, &source_value) != napi_ok || !typed_array(env, doorbells, napi_int32_array, (void **)&bells, &bells_len) ||
      count < 1 || count > LANES_MAX || controls_count != count || bells_len != count)
    goto bad;
  lanes_t *lanes = calloc(1, sizeof *lanes);
  if (lanes == NULL) {
    napi_throw_error(env, NULL, "statsd_reader: out of memory");
    return NULL;
  }
  lanes->count = count;
  lanes->token = token_value;
  lanes->source = source_value;
  lanes->epoch.interval = (_Atomic int32_t *)interval_word;
  lanes->epoch.batch = (_Atomic int32_t *)batch_word;
  lanes->epoch.batches = (uint32_t)atomic_load(lanes->epoch.batch) & ~1u;
  for (uint32_t i = 0; i < count; i++) {
    napi_value b, c;
    void *data, *control;
    size_t len, control_len;
    lane_t *l = &lanes->lane[i];
    if (napi_get_element(env, bytes, i, &b) != napi_ok || napi_get_element(env, controls, i, &c) != napi_ok ||
        !typed_array(env, b, napi_uint8_array, &data, &len) || !typed_array(env, c, napi_int32_array, &control, &control_len) ||
        len < 2 * SLOT_BYTES || len > INT32_MAX || len % 4 != 0 || control_len < LANE_CONTROL_INTS) {
      free(lanes);
      goto bad;
    }
    l->bytes = data;
    l->size = (uint32_t)len;
    l->control = (_Atomic int32_t *)control;
    l->doorbell = bells[i];
    l->write = (uint32_t)atomic_load(&l->control[LANE_TAIL]);
    l->open = -1;
    l->sender = LANE_NO_SENDER;
  }
  return lanes;
bad:
  napi_throw_type_error(env, NULL, "startReader: lanes must be { token, source, bytes: Uint8Array[] (>= 128 KiB, a multiple of 4), controls: Int32Array(64)[], doorbells: Int32Array } with one of each per shard, and interval, batch: Int32Array");
  return NULL;
}

/*
 * (fd, onEvent, slabs: Uint8Array, ends: Int32Array, slabCount, maxQueued
 * [, origins: Int32Array[, lanes]]) -> handle. With lanes (read_lanes), the
 * lines go to the shards' lanes and slabs stay unused. slabs holds slabCount slabs back to
 * back (each at least 64 KiB), ends as many runs of end offsets, origins (a
 * unix datagram socket only) two int32 per end offset; all must be shared
 * memory that stays alive. Starts the thread; takes ownership of fd
 * (non-blocking).
 */
static napi_value StartReader(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, slab_count, max_queued;
  void *slabs, *ends;
  size_t slabs_len, ends_len;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || !typed_array(env, argv[2], napi_uint8_array, &slabs, &slabs_len) ||
      !typed_array(env, argv[3], napi_int32_array, &ends, &ends_len) || napi_get_value_int32(env, argv[4], &slab_count) != napi_ok ||
      napi_get_value_int32(env, argv[5], &max_queued) != napi_ok || slab_count < 1 || max_queued < 1 ||
      slabs_len / (size_t)slab_count < SLOT_BYTES || ends_len / (size_t)slab_count < 1) {
    napi_throw_type_error(env, NULL, "startReader(fd, onEvent, slabs: Uint8Array(>= 64 KiB per slab), ends: Int32Array, slabCount, maxQueued[, origins])");
    return NULL;
  }
  void *origins = NULL;
  size_t origins_len = 0;
  napi_valuetype origins_type = napi_undefined;
  if (argc >= 7) napi_typeof(env, argv[6], &origins_type);
  if (origins_type != napi_undefined && origins_type != napi_null &&
      (!typed_array(env, argv[6], napi_int32_array, &origins, &origins_len) || origins_len < 2 * ends_len)) {
    napi_throw_type_error(env, NULL, "startReader: origins must be an Int32Array of two per end offset");
    return NULL;
  }
  lanes_t *lanes = NULL;
  napi_valuetype lanes_type = napi_undefined;
  if (argc >= 8) napi_typeof(env, argv[7], &lanes_type);
  if (lanes_type != napi_undefined && lanes_type != napi_null && (lanes = read_lanes(env, argv[7])) == NULL) return NULL;
  if (origins != NULL) {
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
      char message[128];
      snprintf(message, sizeof message, "setsockopt(SO_PASSCRED): %s", strerror(errno));
      free(lanes);
      napi_throw_error(env, NULL, message);
      return NULL;
    }
  }
  reader_t *r = calloc(1, sizeof *r);
  if (r == NULL) {
    free(lanes);
    goto oom;
  }
  r->lanes = lanes;
  r->fd = fd;
  r->env = env;
  r->slabs = slabs;
  r->slab_count = (size_t)slab_count;
  r->slab_bytes = slabs_len / r->slab_count;
  r->ends = ends;
  r->ends_per_slab = ends_len / r->slab_count;
  r->max_queued = (size_t)max_queued;
  r->origins = origins;
  r->cur = -1;
  r->wake_fd = -1;
  if (ring_init(&r->full, (uint32_t)slab_count) != 0 || ring_init(&r->freed, (uint32_t)slab_count) != 0 ||
      (r->counts = calloc(r->slab_count, sizeof *r->counts)) == NULL || (r->stack = calloc(r->slab_count, sizeof *r->stack)) == NULL ||
      (r->trimmed = calloc(r->slab_count, 1)) == NULL || (r->scratch = malloc((size_t)VLEN * SLOT_BYTES + LANES_SLACK)) == NULL)
    goto oom;
  for (int i = 0; i < VLEN; i++) {
    r->iovs[i].iov_base = r->scratch + (size_t)i * SLOT_BYTES;
    r->iovs[i].iov_len = SLOT_BYTES;
    r->msgs[i].msg_hdr.msg_iov = &r->iovs[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  if (origins != NULL) {
    size_t room = CMSG_SPACE(sizeof(struct ucred));
    if ((r->control = calloc(VLEN, room)) == NULL) goto oom;
    for (int i = 0; i < VLEN; i++) {
      r->msgs[i].msg_hdr.msg_control = r->control + (size_t)i * room;
      r->msgs[i].msg_hdr.msg_controllen = room;
    }
  }
  int domain = AF_UNIX;
  socklen_t optlen = sizeof domain;
  getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &optlen);
  optlen = sizeof r->rcvbuf;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r->rcvbuf, &optlen) != 0) r->rcvbuf = 0;
  r->ticks = (domain == AF_INET || domain == AF_INET6) && r->rcvbuf >= MIN_COALESCING_RCVBUF;
  if ((r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
    int err = errno;
    free_reader(r);
    char message[128];
    snprintf(message, sizeof message, "eventfd: %s", strerror(err));
    napi_throw_error(env, NULL, message);
    return NULL;
  }

  napi_value name, resource, handle;
  uv_loop_t *loop;
  CHECK(napi_create_string_utf8(env, "statsd_reader", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_async_init(env, resource, name, &r->async_context));
  CHECK(napi_create_reference(env, argv[1], 1, &r->on_event));
  CHECK(napi_create_reference(env, argv[2], 1, &r->refs[0]));
  CHECK(napi_create_reference(env, argv[3], 1, &r->refs[1]));
  if (origins != NULL) CHECK(napi_create_reference(env, argv[6], 1, &r->refs[2]));
  if (lanes != NULL) CHECK(napi_create_reference(env, argv[7], 1, &r->refs[3]));
  CHECK(napi_get_uv_event_loop(env, &loop));
  uv_async_init(loop, &r->async, on_async); /* cannot fail */
  r->async.data = r;
  r->holders = 2;
  CHECK(napi_create_external(env, r, on_handle_collected, NULL, &handle));

  /* Signals are the JavaScript thread's business: the reader must not take them. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&r->thread, NULL, run, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err != 0) {
    r->closed = 1;
    close(r->wake_fd);
    uv_close((uv_handle_t *)&r->async, on_async_closed);
    char message[128];
    snprintf(message, sizeof message, "cannot start the reader thread: %s", strerror(err));
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  return handle;

oom:
  if (r != NULL) free_reader(r);
  napi_throw_error(env, NULL, "statsd_reader: out of memory");
  return NULL;
}

/* (handle, slab index): JavaScript has finished with that slab. */
static napi_value GiveBack(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reader_t *r = get_reader(env, argv[0]);
  int32_t index;
  if (r == NULL || napi_get_value_int32(env, argv[1], &index) != napi_ok || index < 0 || (size_t)index >= r->slab_count) {
    napi_throw_type_error(env, NULL, "giveBack(handle, slab index)");
    return NULL;
  }
  if (r->closed) return NULL;
  atomic_fetch_sub_explicit(&r->queued, r->counts[index], memory_order_relaxed);
  atomic_fetch_sub_explicit(&r->queued_slabs, 1, memory_order_relaxed);
  ring_push(&r->freed, index);
  return NULL;
}

/*
 * (handle, out: Float64Array(8)): datagrams read, dropped (the queue was
 * full), their bytes, cut (over 64 KiB), read errors, the last read error's
 * errno, datagrams and slabs handed over and not given back yet. All but the
 * last two only grow.
 */
static napi_value ReaderStats(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reader_t *r = get_reader(env, argv[0]);
  void *out;
  size_t len;
  if (r == NULL || !typed_array(env, argv[1], napi_float64_array, &out, &len) || len < STAT_COUNT) {
    napi_throw_type_error(env, NULL, "readerStats(handle, Float64Array(8))");
    return NULL;
  }
  double *o = out;
  o[STAT_READ] = (double)atomic_load(&r->read);
  o[STAT_DROPPED] = (double)atomic_load(&r->dropped);
  o[STAT_DROPPED_BYTES] = (double)atomic_load(&r->dropped_bytes);
  o[STAT_TRUNCATED] = (double)atomic_load(&r->truncated);
  o[STAT_ERRORS] = (double)atomic_load(&r->errors);
  o[STAT_LAST_ERRNO] = (double)atomic_load(&r->last_errno);
  o[STAT_QUEUED] = (double)atomic_load(&r->queued);
  o[STAT_QUEUED_SLABS] = (double)atomic_load(&r->queued_slabs);
  return NULL;
}

/*
 * (handle): the thread reads what the kernel already holds (up to STOP_CALLS
 * reads) and ends; every slab it filled is handed over (onEvent, before this
 * returns), and the socket is closed. Slabs given back later are ignored.
 */
static napi_value StopReader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reader_t *r = get_reader(env, argv[0]);
  if (r == NULL || r->closed) return NULL;
  atomic_store(&r->stop, 1);
  uint64_t one = 1;
  while (write(r->wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
  pthread_join(r->thread, NULL);
  deliver(r);
  r->closed = 1;
  close(r->fd);
  close(r->wake_fd);
  napi_delete_reference(env, r->on_event);
  napi_delete_reference(env, r->refs[0]);
  napi_delete_reference(env, r->refs[1]);
  if (r->refs[2] != NULL) napi_delete_reference(env, r->refs[2]);
  if (r->refs[3] != NULL) napi_delete_reference(env, r->refs[3]);
  napi_async_destroy(env, r->async_context);
  uv_close((uv_handle_t *)&r->async, on_async_closed);
  return NULL;
}

void statsd_reader_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"startReader", NULL, StartReader, NULL, NULL, NULL, napi_default, NULL},
    {"giveBack", NULL, GiveBack, NULL, NULL, NULL, napi_default, NULL},
    {"readerStats", NULL, ReaderStats, NULL, NULL, NULL, napi_default, NULL},
    {"stopReader", NULL, StopReader, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
