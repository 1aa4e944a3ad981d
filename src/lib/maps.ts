/** Adds `from`'s entries to `into`: a key only in `from` is moved over, a key in both is combined by `merge(kept, other)`. */
export function mergeMaps<K, V>(into: Map<K, V>, from: ReadonlyMap<K, V>, merge: (kept: V, other: V) => void): void {
  for (const [k, v] of from) {
    const kept = into.get(k);
    if (kept === undefined) into.set(k, v);
    else merge(kept, v);
  }
}
