/**
 * A binary min-heap: the earliest of many pending events in O(log n) per
 * arrival and per turn, where sorting them all for every turn would make a
 * backlog of n events cost O(n² log n).
 */
export class Heap<T> {
  readonly #items: T[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let at = items.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (this.compare(items[at] as T, items[parent] as T) >= 0) break;
      this.swap(at, parent);
      at = parent;
    }
  }

  /** Removes and returns the least item. */
  pop(): T | undefined {
    const items = this.#items;
    const first = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return first;
    items[0] = last;
    this.siftDown(0);
    return first;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  private siftDown(from: number): void {
    const items = this.#items;
    let at = from;
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let least = at;
      if (left < items.length && this.less(left, least)) least = left;
      if (right < items.length && this.less(right, least)) least = right;
      if (least === at) return;
      this.swap(at, least);
      at = least;
    }
  }

  private less(a: number, b: number): boolean {
    return this.compare(this.#items[a] as T, this.#items[b] as T) < 0;
  }

  private swap(a: number, b: number): void {
    const items = this.#items;
    [items[a], items[b]] = [items[b] as T, items[a] as T];
  }
}
