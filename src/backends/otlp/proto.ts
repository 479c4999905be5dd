import protobuf from 'protobufjs'

/*
 * OTLP metrics, as opentelemetry-proto defines them (common/v1/common.proto,
 * resource/v1/resource.proto, metrics/v1/metrics.proto and
 * collector/metrics/v1/metrics_service.proto, v1.x; field numbers and types
 * unchanged, comments, exemplars and the types this exporter never sends
 * left out). The encoder is protobufjs's own, generated from these.
 */
const SOURCE = `
syntax = "proto3";
package opentelemetry.proto;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
  }
}

message KeyValue {
  string key = 1;
  AnyValue value = 2;
}

message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}

message Resource {
  repeated KeyValue attributes = 1;
  uint32 dropped_attributes_count = 2;
}

message ExportMetricsServiceRequest {
  repeated ResourceMetrics resource_metrics = 1;
}

message ExportMetricsServiceResponse {
  ExportMetricsPartialSuccess partial_success = 1;
}

message ExportMetricsPartialSuccess {
  int64 rejected_data_points = 1;
  string error_message = 2;
}

message ResourceMetrics {
  reserved 1000;
  Resource resource = 1;
  repeated ScopeMetrics scope_metrics = 2;
  string schema_url = 3;
}

message ScopeMetrics {
  InstrumentationScope scope = 1;
  repeated Metric metrics = 2;
  string schema_url = 3;
}

message Metric {
  reserved 4, 6, 8;
  string name = 1;
  string description = 2;
  string unit = 3;
  oneof data {
    Gauge gauge = 5;
    Sum sum = 7;
    ExponentialHistogram exponential_histogram = 10;
  }
}

message Gauge {
  repeated NumberDataPoint data_points = 1;
}

message Sum {
  repeated NumberDataPoint data_points = 1;
  AggregationTemporality aggregation_temporality = 2;
  bool is_monotonic = 3;
}

message ExponentialHistogram {
  repeated ExponentialHistogramDataPoint data_points = 1;
  AggregationTemporality aggregation_temporality = 2;
}

enum AggregationTemporality {
  AGGREGATION_TEMPORALITY_UNSPECIFIED = 0;
  AGGREGATION_TEMPORALITY_DELTA = 1;
  AGGREGATION_TEMPORALITY_CUMULATIVE = 2;
}

message NumberDataPoint {
  reserved 1;
  repeated KeyValue attributes = 7;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  oneof value {
    double as_double = 4;
    sfixed64 as_int = 6;
  }
  uint32 flags = 8;
}

message ExponentialHistogramDataPoint {
  repeated KeyValue attributes = 1;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  fixed64 count = 4;
  optional double sum = 5;
  sint32 scale = 6;
  fixed64 zero_count = 7;
  Buckets positive = 8;
  Buckets negative = 9;
  message Buckets {
    sint32 offset = 1;
    repeated uint64 bucket_counts = 2;
  }
  uint32 flags = 10;
  optional double min = 12;
  optional double max = 13;
  double zero_threshold = 14;
}
`

const root = protobuf.parse(SOURCE, { keepCase: true }).root

const ExportRequest = root.lookupType('opentelemetry.proto.ExportMetricsServiceRequest')
const ExportResponse = root.lookupType('opentelemetry.proto.ExportMetricsServiceResponse')

/** A fixed64 as protobufjs takes it: nanoseconds exceed 2^53, so as two 32-bit halves. */
export interface Fixed64 {
  low: number
  high: number
  unsigned: boolean
}

export function nanos(seconds: number): Fixed64 {
  const n = BigInt(Math.round(seconds * 1000)) * 1_000_000n
  return { low: Number(n & 0xffffffffn) | 0, high: Number(n >> 32n) | 0, unsigned: true }
}

export interface KeyValue {
  key: string
  value: { string_value: string }
}

export const attribute = (key: string, value: string): KeyValue => ({ key, value: { string_value: value } })

export interface NumberDataPoint {
  attributes: KeyValue[]
  start_time_unix_nano?: Fixed64
  time_unix_nano: Fixed64
  as_double: number
}

export interface ExponentialHistogramDataPoint {
  attributes: KeyValue[]
  start_time_unix_nano: Fixed64
  time_unix_nano: Fixed64
  count: number
  sum: number
  scale: number
  zero_count: number
  positive: { offset: number; bucket_counts: number[] }
  negative: { offset: number; bucket_counts: number[] }
  min: number
  max: number
}

export const DELTA = 1

export interface Metric {
  name: string
  unit?: string
  gauge?: { data_points: NumberDataPoint[] }
  sum?: { data_points: NumberDataPoint[]; aggregation_temporality: number; is_monotonic: boolean }
  exponential_histogram?: { data_points: ExponentialHistogramDataPoint[]; aggregation_temporality: number }
}

/** One export request: this resource's metrics under one scope. */
export function encodeExport(resource: KeyValue[], scope: { name: string; version: string }, metrics: Metric[]): Uint8Array {
  return ExportRequest.encode({ resource_metrics: [{ resource: { attributes: resource }, scope_metrics: [{ scope, metrics }] }] }).finish()
}

/** The data points a collector refused in an otherwise accepted request (OTLP partial success). */
export function partialSuccess(body: Buffer): { rejected: number; message: string } | null {
  if (body.length === 0) return null
  try {
    const response = ExportResponse.toObject(ExportResponse.decode(body), { longs: Number }) as {
      partial_success?: { rejected_data_points?: number; error_message?: string }
    }
    const rejected = response.partial_success?.rejected_data_points ?? 0
    return rejected > 0 ? { rejected, message: response.partial_success?.error_message ?? '' } : null
  } catch {
    return null
  }
}
