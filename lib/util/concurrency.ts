import { appendTo } from './multimap.ts';

/** Runs `work` on every item with at most `limit` in flight; results keep the items' order. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A gate per key (an OCSP responder's host, say) letting at most `limit` tasks through at once. */
export function createKeyedLimiter(limit: number): <R>(key: string, task: () => Promise<R>) => Promise<R> {
  const running = new Map<string, number>();
  const waiting = new Map<string, (() => void)[]>();
  const release = (key: string) => {
    const wake = waiting.get(key)?.shift();
    if (wake) {
      wake();
      return;
    }
    running.set(key, (running.get(key) ?? 1) - 1);
  };
  return async (key, task) => {
    if ((running.get(key) ?? 0) < limit) {
      running.set(key, (running.get(key) ?? 0) + 1);
    } else {
      // The releasing task hands its slot over directly, so the count stays right.
      await new Promise<void>((resolve) => appendTo(waiting, key, resolve));
    }
    try {
      return await task();
    } finally {
      release(key);
    }
  };
}
