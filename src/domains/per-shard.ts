/**
 * What a keyed state changed per shard (source partition) since the shard's last checkpoint.
 * A shard's changes are taken whole by its checkpoint, alone (partitions catching up on a
 * backlog commit side by side) or merged with other shards' (caught-up partitions commit
 * together, one transaction instead of one each).
 */
export class PerShard<B> {
  readonly #empty: () => B;
  readonly #merge: (into: B, from: B) => void;
  readonly #byShard = new Map<string, B>();

  /** `merge` adds one shard's changes to another's (a key both changed is combined, not repeated). */
  constructor(empty: () => B, merge: (into: B, from: B) => void) {
    this.#empty = empty;
    this.#merge = merge;
  }

  /** The shard's changes so far (empty ones on first use), to add to. */
  of(shard: string): B {
    let b = this.#byShard.get(shard);
    if (b === undefined) this.#byShard.set(shard, (b = this.#empty()));
    return b;
  }

  /** Detaches the shards' changes, merged (empty ones if none has any): their next `of` starts anew. */
  take(shards: ReadonlyArray<string>): B {
    let out: B | undefined;
    for (const shard of shards) {
      const b = this.#byShard.get(shard);
      if (b === undefined) continue;
      this.#byShard.delete(shard);
      if (out === undefined) out = b;
      else this.#merge(out, b);
    }
    return out ?? this.#empty();
  }

  clear(): void {
    this.#byShard.clear();
  }
}
