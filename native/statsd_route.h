#ifndef STATSD_ROUTE_H
#define STATSD_ROUTE_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

#include "statsd_hash.h"

/* Adds routeLines and shardOfLine (statsd_route.c) to the addon's exports. */
void statsd_route_init(napi_env env, napi_value exports);

#endif
