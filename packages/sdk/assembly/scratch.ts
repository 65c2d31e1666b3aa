// One buffer the host copies strings into, so fetching a header allocates only the string itself.
// It grows to the largest value seen and stays: filters see the same few headers over and over.

let scratch: ArrayBuffer = new ArrayBuffer(1024);

/** Address of the scratch buffer. */
export function scratchPtr(): usize {
  return changetype<usize>(scratch);
}

/** Capacity in UTF-16 code units. */
export function scratchUnits(): i32 {
  return scratch.byteLength >> 1;
}

/** Capacity in bytes. */
export function scratchBytes(): i32 {
  return scratch.byteLength;
}

/** Makes room for `bytes` bytes (the previous content is dropped). */
export function growScratch(bytes: i32): void {
  if (bytes <= scratch.byteLength) return;
  let size = scratch.byteLength;
  while (size < bytes) size <<= 1;
  scratch = new ArrayBuffer(size);
}

/** The string of `units` code units the host just copied into the scratch buffer. */
export function scratchString(units: i32): string {
  return String.UTF16.decodeUnsafe(scratchPtr(), <usize>units << 1);
}
