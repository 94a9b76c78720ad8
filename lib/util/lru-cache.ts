/**
 * A map holding at most `limit` entries, dropping the least recently used:
 * for what a batch decodes again and again (shared intermediates, issuers)
 * without letting its thousands of leaves pile up.
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly limit: number) {}

  /** The value held for `key`, or what `compute` returns for it (not held if it throws). */
  getOrCompute(key: K, compute: (key: K) => V): V {
    const value = this.entries.has(key) ? (this.entries.get(key) as V) : compute(key);
    // Re-inserted on every use: a Map iterates in insertion order, so its first key is the least recently used.
    this.entries.delete(key);
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value as K);
    this.entries.set(key, value);
    return value;
  }
}
