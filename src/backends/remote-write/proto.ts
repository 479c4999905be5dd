import protobuf from 'protobufjs'

/*
 * Prometheus remote write 1.0's messages, as prompb/remote.proto and
 * prompb/types.proto define them (Prometheus 2.42; field numbers and types
 * unchanged, gogoproto options and the read-side messages left out). The
 * encoder is protobufjs's own, generated from these definitions.
 */
const SOURCE = `
syntax = "proto3";
package prometheus;

message WriteRequest {
  repeated TimeSeries timeseries = 1;
  reserved 2;
}

message Sample {
  double value = 1;
  int64 timestamp = 2;
}

message Histogram {
  enum ResetHint {
    UNKNOWN = 0;
    YES = 1;
    NO = 2;
    GAUGE = 3;
  }
  oneof count {
    uint64 count_int = 1;
    double count_float = 2;
  }
  double sum = 3;
  sint32 schema = 4;
  double zero_threshold = 5;
  oneof zero_count {
    uint64 zero_count_int = 6;
    double zero_count_float = 7;
  }
  repeated BucketSpan negative_spans = 8;
  repeated sint64 negative_deltas = 9;
  repeated double negative_counts = 10;
  repeated BucketSpan positive_spans = 11;
  repeated sint64 positive_deltas = 12;
  repeated double positive_counts = 13;
  ResetHint reset_hint = 14;
  int64 timestamp = 15;
}

message BucketSpan {
  sint32 offset = 1;
  uint32 length = 2;
}

message TimeSeries {
  repeated Label labels = 1;
  repeated Sample samples = 2;
  repeated Histogram histograms = 4;
}

message Label {
  string name = 1;
  string value = 2;
}
`

const root = protobuf.parse(SOURCE, { keepCase: true }).root

export const WriteRequest = root.lookupType('prometheus.WriteRequest')

export interface Label {
  name: string
  value: string
}
export interface Sample {
  value: number
  timestamp: number
}
export interface BucketSpan {
  offset: number
  length: number
}
export interface NativeHistogram {
  count_int: number
  sum: number
  schema: number
  zero_threshold: number
  zero_count_int: number
  negative_spans: BucketSpan[]
  negative_deltas: number[]
  positive_spans: BucketSpan[]
  positive_deltas: number[]
  timestamp: number
}
export interface TimeSeries {
  labels: Label[]
  samples?: Sample[]
  histograms?: NativeHistogram[]
}

/** The encoded WriteRequest (not yet compressed). */
export function encodeWriteRequest(timeseries: TimeSeries[]): Uint8Array {
  return WriteRequest.encode({ timeseries }).finish()
}

/** Prometheus's staleness marker: a NaN with this exact bit pattern ends a series. */
export const STALE_NAN = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]!
