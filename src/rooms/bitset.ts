// Slot sets: dense socket slots (small integers) held as a short sorted array while a set is small
// and as a Uint32Array bitset once it grows. Knows nothing of sockets, rooms or the wire.

/** Above this many members a SlotSet switches from a sorted array to a bitset. */
export const SMALL_SET_MAX = 32;

export function wordsFor(slotCount: number): number {
  return (slotCount + 31) >>> 5;
}

export class SlotSet {
  private small: number[] | null = [];
  private bits: Uint32Array | null = null;
  size = 0;

  /** A set of one slot. */
  static of(slot: number): SlotSet {
    const s = new SlotSet();
    s.small = [slot];
    s.size = 1;
    return s;
  }

  has(slot: number): boolean {
    if (this.small) return this.small.includes(slot);
    const w = slot >>> 5;
    return w < this.bits!.length && (this.bits![w] & (1 << (slot & 31))) !== 0;
  }

  add(slot: number): boolean {
    if (this.small) {
      if (this.small.length === 0) {
        // Sized to one: most sets stay that small (every socket's own room), and a first push
        // would reserve room for 17.
        this.small = [slot];
        this.size++;
        return true;
      }
      if (this.small.includes(slot)) return false;
      if (this.small.length < SMALL_SET_MAX) {
        this.small.push(slot);
        this.size++;
        return true;
      }
      this.toBits();
    }
    const w = slot >>> 5;
    if (w >= this.bits!.length) this.grow(w + 1);
    const mask = 1 << (slot & 31);
    if (this.bits![w] & mask) return false;
    this.bits![w] |= mask;
    this.size++;
    return true;
  }

  delete(slot: number): boolean {
    if (this.small) {
      const i = this.small.indexOf(slot);
      if (i < 0) return false;
      this.small[i] = this.small[this.small.length - 1];
      this.small.pop();
      this.size--;
      return true;
    }
    const w = slot >>> 5;
    const mask = 1 << (slot & 31);
    if (w >= this.bits!.length || !(this.bits![w] & mask)) return false;
    this.bits![w] &= ~mask;
    this.size--;
    return true;
  }

  /** target |= this */
  orInto(target: Uint32Array): void {
    if (this.small) {
      for (const s of this.small) target[s >>> 5] |= 1 << (s & 31);
      return;
    }
    const b = this.bits!;
    const n = Math.min(b.length, target.length);
    for (let i = 0; i < n; i++) target[i] |= b[i];
  }

  /** target &= ~this */
  andNotInto(target: Uint32Array): void {
    if (this.small) {
      for (const s of this.small) {
        const w = s >>> 5;
        if (w < target.length) target[w] &= ~(1 << (s & 31));
      }
      return;
    }
    const b = this.bits!;
    const n = Math.min(b.length, target.length);
    for (let i = 0; i < n; i++) target[i] &= ~b[i];
  }

  /** Whether this set shares a member with the bitset `other`. */
  intersects(other: Uint32Array): boolean {
    if (this.small) {
      for (const s of this.small) {
        const w = s >>> 5;
        if (w < other.length && other[w] & (1 << (s & 31))) return true;
      }
      return false;
    }
    const b = this.bits!;
    const n = Math.min(b.length, other.length);
    for (let i = 0; i < n; i++) if (b[i] & other[i]) return true;
    return false;
  }

  forEach(fn: (slot: number) => void): void {
    if (this.small) {
      for (const s of this.small) fn(s);
      return;
    }
    forEachBit(this.bits!, fn);
  }

  private toBits(): void {
    const small = this.small!;
    let max = 0;
    for (const s of small) if (s > max) max = s;
    this.bits = new Uint32Array(Math.max(wordsFor(max + 1), 8));
    for (const s of small) this.bits[s >>> 5] |= 1 << (s & 31);
    this.small = null;
  }

  private grow(words: number): void {
    const next = new Uint32Array(Math.max(words, this.bits!.length * 2));
    next.set(this.bits!);
    this.bits = next;
  }
}

export function clearBit(bits: Uint32Array, slot: number): void {
  bits[slot >>> 5] &= ~(1 << (slot & 31));
}

export function forEachBit(bits: Uint32Array, fn: (slot: number) => void): void {
  for (let w = 0; w < bits.length; w++) {
    let word = bits[w];
    while (word !== 0) {
      const low = word & -word;
      fn((w << 5) + (31 - Math.clz32(low)));
      word ^= low;
    }
  }
}
