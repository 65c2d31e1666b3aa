/**
 * Walking on past a choice, for the policies whose first choice is not a position on a ring.
 * Attempt k >= 1 takes the k-th host of a rotation over the other n - 1 hosts, starting at an
 * offset taken from the request's salt: attempts 0 .. n-1 are n different hosts, and the retries
 * of many requests that first chose the same host spread over all the others rather than piling
 * onto its neighbour. Retries are rare; they do not follow weights.
 */
export function walkDistinct(first: number, salt: number, attempt: number, n: number): number {
  if (n <= 0) return -1;
  // `first` comes from the same build unless a caller reused the scratch across a rebuild (the
  // balancer restarts the walk then): even so, never hand back an index outside 0..n-1.
  const f = first >= 0 && first < n ? first : (first >>> 0) % n;
  if (attempt === 0 || n === 1) return f;
  const others = n - 1;
  const step = 1 + ((salt + attempt - 1) % others);
  return (f + step) % n;
}

/** A unsigned 32-bit salt from a uniform draw in [0, 1). */
export function saltOf(u: number): number {
  return (u * 4294967296) >>> 0;
}
