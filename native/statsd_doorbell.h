#ifndef STATSD_DOORBELL_H
#define STATSD_DOORBELL_H
#include <node_api.h>
#include <stdint.h>

/* Adds openDoorbell (statsd_doorbell.c) to the addon's exports. */
void statsd_doorbell_init(napi_env env, napi_value exports);
/* From any thread: wakes the JavaScript thread that opened doorbell `id`, if it is still there. */
void doorbell_ring(int32_t id);

#endif
