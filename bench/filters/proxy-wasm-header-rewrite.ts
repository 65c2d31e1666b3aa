// The bench's proxy-wasm header filter (ABI 0.2.1, raw imports): the same work as the header-rewrite
// plugin's bench config, set one request header and remove one response header, so the two ABIs
// are measured side by side.

@external("env", "proxy_replace_header_map_value") declare function proxy_replace_header_map_value(map: i32, kp: usize, kl: usize, vp: usize, vl: usize): i32;
@external("env", "proxy_remove_header_map_value") declare function proxy_remove_header_map_value(map: i32, kp: usize, kl: usize): i32;
@external("wasi_snapshot_preview1", "proc_exit") declare function proc_exit(code: u32): void;

const REQUEST_HEADERS: i32 = 0;
const RESPONSE_HEADERS: i32 = 2;

function abortProcExit(message: usize, file: usize, line: u32, column: u32): void {
  proc_exit(255);
}

// Encoded once: the per-request work is the host calls, as in a filter tuned for speed.
const NAME = String.UTF8.encode("x-bench");
const VALUE = String.UTF8.encode("wasm-filter");
const REMOVE = String.UTF8.encode("uwebsockets");

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_context_create(context: u32, parent: u32): void {}

export function proxy_on_request_headers(context: u32, headers: u32, endOfStream: u32): u32 {
  proxy_replace_header_map_value(REQUEST_HEADERS, changetype<usize>(NAME), NAME.byteLength, changetype<usize>(VALUE), VALUE.byteLength);
  return 0;
}

export function proxy_on_response_headers(context: u32, headers: u32, endOfStream: u32): u32 {
  proxy_remove_header_map_value(RESPONSE_HEADERS, changetype<usize>(REMOVE), REMOVE.byteLength);
  return 0;
}

export function proxy_on_done(context: u32): u32 {
  return 1;
}
