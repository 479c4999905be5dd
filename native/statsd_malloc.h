#ifndef STATSD_MALLOC_H
#define STATSD_MALLOC_H
#include <node_api.h>

/* Adds fixMmapThreshold, forgetPages and memoryAddress (statsd_malloc.c) to the addon's exports. */
void statsd_malloc_init(napi_env env, napi_value exports);

#endif
