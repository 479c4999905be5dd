/*
 * Doorbells: how a reader thread wakes a shard's worker thread
 * (src/aggregate/shards/lanes.ts). A worker opens one in its own addon
 * instance: a uv_async on its own event loop that calls back into its own
 * JavaScript. Any thread may ring it by number. The addon's code and this
 * table are one per process, shared by every worker's instance; the mutex
 * keeps a ring from touching a handle whose worker is tearing it down (a
 * worker that exits or fails: its cleanup hook takes the doorbell out of the
 * table before closing the handle). Ringers batch: they ring only when the
 * consumer has cleared its lane's wake flag, so at most one wake-up per
 * lane is ever pending, and uv_async_send coalesces the rest.
 */
#include "statsd_doorbell.h"

#include <pthread.h>
#include <stdlib.h>
#include <uv.h>

#include "napi_helpers.h"

#define MAX_DOORBELLS 1024

typedef struct {
  uv_async_t async;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int32_t id;
} doorbell_t;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static doorbell_t *table[MAX_DOORBELLS];
/* A slot taken while its handle is being set up: ringing it does nothing. */
static doorbell_t reserved;

void doorbell_ring(int32_t id) {
  if (id < 0 || id >= MAX_DOORBELLS) return;
  pthread_mutex_lock(&table_lock);
  if (table[id] != NULL && table[id] != &reserved) uv_async_send(&table[id]->async);
  pthread_mutex_unlock(&table_lock);
}

static void on_ring(uv_async_t *handle) {
  doorbell_t *d = handle->data;
  napi_env env = d->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, d->callback, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok &&
      napi_make_callback(env, d->context, recv, fn, 0, NULL, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *handle) {
  free(handle->data);
}

/* The worker is going away: no thread may ring this doorbell from now on. */
static void close_doorbell(void *arg) {
  doorbell_t *d = arg;
  pthread_mutex_lock(&table_lock);
  table[d->id] = NULL;
  pthread_mutex_unlock(&table_lock);
  napi_delete_reference(d->env, d->callback);
  napi_async_destroy(d->env, d->context);
  uv_close((uv_handle_t *)&d->async, on_closed);
}

/* openDoorbell(callback) -> id: callback runs on this thread (at most once per batch of rings) until it exits. */
static napi_value OpenDoorbell(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, name, resource;
  napi_valuetype type;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, "openDoorbell(callback)");
    return NULL;
  }
  doorbell_t *d = calloc(1, sizeof *d);
  if (d == NULL) {
    napi_throw_error(env, NULL, "openDoorbell: out of memory");
    return NULL;
  }
  pthread_mutex_lock(&table_lock);
  int32_t id = 0;
  while (id < MAX_DOORBELLS && table[id] != NULL) id++;
  if (id < MAX_DOORBELLS) table[id] = &reserved; /* a stale id (a stopped server's reader) may ring it soon */
  pthread_mutex_unlock(&table_lock);
  if (id == MAX_DOORBELLS) {
    free(d);
    napi_throw_error(env, NULL, "openDoorbell: too many doorbells");
    return NULL;
  }
  uv_loop_t *loop;
  d->env = env;
  d->id = id;
  CHECK(napi_get_uv_event_loop(env, &loop));
  CHECK(napi_create_reference(env, argv[0], 1, &d->callback));
  CHECK(napi_create_string_utf8(env, "statsd_doorbell", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_async_init(env, resource, name, &d->context));
  uv_async_init(loop, &d->async, on_ring); /* cannot fail */
  d->async.data = d;
  /* A ringing doorbell must not keep the thread alive; the worker's message port does that. */
  uv_unref((uv_handle_t *)&d->async);
  CHECK(napi_add_env_cleanup_hook(env, close_doorbell, d));
  pthread_mutex_lock(&table_lock);
  table[id] = d;
  pthread_mutex_unlock(&table_lock);
  CHECK(napi_create_int32(env, id, &result));
  return result;
}

void statsd_doorbell_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"openDoorbell", NULL, OpenDoorbell, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
