#ifndef STATSD_ROUTE_H
#define STATSD_ROUTE_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

/* Adds routeLines and shardOfLine (statsd_route.c) to the addon's exports. */
void statsd_route_init(napi_env env, napi_value exports);

/* The shard of the line b[s, e) (no newline): route.ts's shardOfLine, byte for byte. */
uint32_t shard_of_line(const uint8_t *b, size_t s, size_t e, int token, uint32_t shards);

#endif
