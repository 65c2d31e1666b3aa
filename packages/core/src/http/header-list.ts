/**
 * An ordered list of HTTP header fields, stored flat as [name0, value0, name1, value1, ...].
 *
 * Names are kept lower-case (HTTP/1.1 field names are case-insensitive and uWS hands them over
 * lower-cased already). Order and repeats are preserved because a proxy must forward what it was
 * given. Lookups are linear: real requests carry a dozen or two fields, where a scan over a flat
 * array beats building a Map per request.
 */
export class HeaderList {
  /** name, value, name, value, ... Names are lower-case. */
  readonly raw: string[];

  constructor(raw: string[] = []) {
    this.raw = raw;
  }

  /** Number of fields (a repeated name counts once per line). */
  get size(): number {
    return this.raw.length >> 1;
  }

  /** First value of `name`, or undefined. `name` must be lower-case. */
  get(name: string): string | undefined {
    const raw = this.raw;
    for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) return raw[i + 1];
    return undefined;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    const raw = this.raw;
    for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) out.push(raw[i + 1]!);
    return out;
  }

  has(name: string): boolean {
    return this.indexOf(name) !== -1;
  }

  /** How many lines carry `name`. */
  count(name: string): number {
    let n = 0;
    const raw = this.raw;
    for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) n++;
    return n;
  }

  /** Appends a line, keeping any existing ones. */
  add(name: string, value: string): void {
    this.raw.push(name, value);
  }

  /** Replaces every line of `name` with one line holding `value` (at the first one's position). */
  set(name: string, value: string): void {
    const raw = this.raw;
    let found = false;
    let w = 0;
    for (let r = 0; r < raw.length; r += 2) {
      if (raw[r] === name) {
        if (found) continue;
        found = true;
        raw[w] = name;
        raw[w + 1] = value;
      } else if (w !== r) {
        raw[w] = raw[r]!;
        raw[w + 1] = raw[r + 1]!;
      }
      w += 2;
    }
    if (w !== raw.length) raw.length = w; // a length write costs even when nothing changed
    if (!found) raw.push(name, value);
  }

  /** Removes every line of `name`; returns how many were removed. */
  remove(name: string): number {
    const raw = this.raw;
    let w = 0;
    for (let r = 0; r < raw.length; r += 2) {
      if (raw[r] === name) continue;
      if (w !== r) {
        raw[w] = raw[r]!;
        raw[w + 1] = raw[r + 1]!;
      }
      w += 2;
    }
    const removed = (raw.length - w) >> 1;
    if (w !== raw.length) raw.length = w; // a length write costs even when nothing changed
    return removed;
  }

  indexOf(name: string): number {
    const raw = this.raw;
    for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) return i >> 1;
    return -1;
  }

  nameAt(i: number): string {
    return this.raw[i << 1]!;
  }

  valueAt(i: number): string {
    return this.raw[(i << 1) + 1]!;
  }
}
