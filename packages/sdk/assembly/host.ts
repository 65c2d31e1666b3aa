// The host functions, declared exactly as src/abi.ts lists them (a test compares the two).
// Filter code uses the wrappers in the other files, never these.

@external("pillion", "log")
export declare function log(level: i32, ptr: usize, len: i32): void;
@external("pillion", "get_config")
export declare function get_config(dst: usize, cap: i32): i32;
@external("pillion", "get_property")
export declare function get_property(property: i32, dst: usize, cap: i32): i32;
@external("pillion", "set_path")
export declare function set_path(ptr: usize, len: i32): void;
@external("pillion", "response_status")
export declare function response_status(): i32;
@external("pillion", "header_get")
export declare function header_get(map: i32, name: usize, nameLen: i32, dst: usize, cap: i32): i32;
@external("pillion", "header_count")
export declare function header_count(map: i32, name: usize, nameLen: i32): i32;
@external("pillion", "header_size")
export declare function header_size(map: i32): i32;
@external("pillion", "header_name_at")
export declare function header_name_at(map: i32, index: i32, dst: usize, cap: i32): i32;
@external("pillion", "header_value_at")
export declare function header_value_at(map: i32, index: i32, dst: usize, cap: i32): i32;
@external("pillion", "header_set")
export declare function header_set(map: i32, name: usize, nameLen: i32, value: usize, valueLen: i32): void;
@external("pillion", "header_add")
export declare function header_add(map: i32, name: usize, nameLen: i32, value: usize, valueLen: i32): void;
@external("pillion", "header_remove")
export declare function header_remove(map: i32, name: usize, nameLen: i32): i32;
@external("pillion", "body_read")
export declare function body_read(dst: usize, cap: i32): i32;
@external("pillion", "buffer_body")
export declare function buffer_body(direction: i32, limit: i32): void;
@external("pillion", "send_local_reply")
export declare function send_local_reply(status: i32, body: usize, bodyLen: i32, headers: usize, headersLen: i32): void;
@external("pillion", "set_cluster")
export declare function set_cluster(ptr: usize, len: i32): void;
@external("pillion", "metric_define")
export declare function metric_define(kind: i32, name: usize, nameLen: i32): i32;
@external("pillion", "metric_add")
export declare function metric_add(id: i32, delta: f64): void;
@external("pillion", "metric_set")
export declare function metric_set(id: i32, value: f64): void;
@external("pillion", "bucket_take")
export declare function bucket_take(bucket: i32, tokens: i32, ratePerSec: f64, burst: f64): i32;
@external("pillion", "now_ms")
export declare function now_ms(): f64;
@external("pillion", "random")
export declare function random(): f64;

// Values of the enum-like arguments, mirrored from src/abi.ts.
export const MAP_REQUEST: i32 = 0;
export const MAP_RESPONSE: i32 = 1;
export const PROPERTY_METHOD: i32 = 0;
export const PROPERTY_PATH: i32 = 1;
export const PROPERTY_AUTHORITY: i32 = 2;
export const PROPERTY_CLIENT_ADDRESS: i32 = 3;
export const PROPERTY_CLIENT_IDENTITY: i32 = 4;
export const DIRECTION_REQUEST: i32 = 0;
export const DIRECTION_RESPONSE: i32 = 1;
export const METRIC_COUNTER: i32 = 0;
export const METRIC_GAUGE: i32 = 1;
export const RESULT_UNUSED_FLAG: i32 = 0x100;
