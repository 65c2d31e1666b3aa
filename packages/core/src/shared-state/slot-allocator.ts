/**
 * Hands out slot numbers from a fixed range and takes them back, lowest free first. Adding and removing
 * endpoints (or clusters) at run time never moves anyone else's slot, so a worker holding slot 7 keeps
 * reading the right counters while its neighbours come and go.
 */
export class SlotAllocator {
  private readonly free: number[] = [];
  private readonly used: Uint8Array;
  private next = 0;

  constructor(readonly capacity: number) {
    this.used = new Uint8Array(capacity);
  }

  /** A free slot, or -1 when all `capacity` slots are in use. */
  alloc(): number {
    let slot: number;
    if (this.free.length) {
      // Keep the free list sorted descending so pop() yields the lowest slot: reuse stays compact.
      slot = this.free.pop()!;
    } else if (this.next < this.capacity) {
      slot = this.next++;
    } else {
      return -1;
    }
    this.used[slot] = 1;
    return slot;
  }

  release(slot: number): void {
    if (slot < 0 || slot >= this.capacity || !this.used[slot]) throw new RangeError(`slot ${slot} is not allocated`);
    this.used[slot] = 0;
    let i = this.free.length;
    while (i > 0 && this.free[i - 1]! < slot) i--;
    this.free.splice(i, 0, slot);
  }

  isUsed(slot: number): boolean {
    return this.used[slot] === 1;
  }

  get inUse(): number {
    return this.next - this.free.length;
  }
}
