/**
 * How many ITEMS have each of KEYS, keyed in KEYS' order with zeros kept:
 * totals that name every possible key, as reports and metrics list them.
 */
export function tally<K extends string, T>(
  keys: readonly K[],
  items: Iterable<T>,
  keyOf: (item: T) => K,
): Record<K, number> {
  const counts = Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
  for (const item of items) counts[keyOf(item)]++;
  return counts;
}
