import {
  header_add, header_count, header_get, header_name_at, header_remove, header_set, header_size,
  header_value_at,
} from "./host";
import { growScratch, scratchPtr, scratchString, scratchUnits } from "./scratch";

/**
 * The request's or the response's headers, held by the host. Every method is one host call on
 * one header: nothing is copied into the module except what a filter asks for. Names are
 * case-insensitive. `content-length` and `transfer-encoding` belong to the proxy: changing them
 * fails the request.
 */
export class Headers {
  constructor(private readonly map: i32) {}

  /** First value of `name`, or null. */
  get(name: string): string | null {
    let n = header_get(this.map, changetype<usize>(name), name.length, scratchPtr(), scratchUnits());
    if (n > scratchUnits()) {
      growScratch(n << 1);
      n = header_get(this.map, changetype<usize>(name), name.length, scratchPtr(), scratchUnits());
    }
    return n < 0 ? null : scratchString(n);
  }

  has(name: string): bool {
    return header_count(this.map, changetype<usize>(name), name.length) > 0;
  }

  /** How many lines carry `name`. */
  count(name: string): i32 {
    return header_count(this.map, changetype<usize>(name), name.length);
  }

  /** Number of header lines; 0 when these headers do not exist yet (response headers before the response). */
  size(): i32 {
    const n = header_size(this.map);
    return n < 0 ? 0 : n;
  }

  /** Name of the line at `index` (0 .. size() - 1). */
  nameAt(index: i32): string {
    let n = header_name_at(this.map, index, scratchPtr(), scratchUnits());
    if (n > scratchUnits()) {
      growScratch(n << 1);
      n = header_name_at(this.map, index, scratchPtr(), scratchUnits());
    }
    return n < 0 ? "" : scratchString(n);
  }

  /** Value of the line at `index` (0 .. size() - 1). */
  valueAt(index: i32): string {
    let n = header_value_at(this.map, index, scratchPtr(), scratchUnits());
    if (n > scratchUnits()) {
      growScratch(n << 1);
      n = header_value_at(this.map, index, scratchPtr(), scratchUnits());
    }
    return n < 0 ? "" : scratchString(n);
  }

  /** Replaces every line of `name` with one line. */
  set(name: string, value: string): void {
    header_set(this.map, changetype<usize>(name), name.length, changetype<usize>(value), value.length);
  }

  /** Appends a line, keeping existing ones. */
  add(name: string, value: string): void {
    header_add(this.map, changetype<usize>(name), name.length, changetype<usize>(value), value.length);
  }

  /** Removes every line of `name`; returns how many there were. */
  remove(name: string): i32 {
    return header_remove(this.map, changetype<usize>(name), name.length);
  }
}
