/**
 * What a keyed state changed per shard (source partition) since the shard's last checkpoint.
 * Shards commit independently, so each keeps its own changes, taken whole by its checkpoint.
 */
export class PerShard<B> {
  readonly #empty: () => B;
  readonly #byShard = new Map<string, B>();

  constructor(empty: () => B) {
    this.#empty = empty;
  }

  /** The shard's changes so far (empty ones on first use), to add to. */
  of(shard: string): B {
    let b = this.#byShard.get(shard);
    if (b === undefined) this.#byShard.set(shard, (b = this.#empty()));
    return b;
  }

  /** Detaches the shard's changes (empty ones if it has none): the next `of` starts anew. */
  take(shard: string): B {
    const b = this.#byShard.get(shard) ?? this.#empty();
    this.#byShard.delete(shard);
    return b;
  }

  clear(): void {
    this.#byShard.clear();
  }
}
