import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeyedLimiter, mapConcurrently } from '../lib/util/concurrency.ts';

test('mapConcurrently keeps order and never exceeds its limit', async () => {
  let inFlight = 0;
  let peak = 0;
  const results = await mapConcurrently([30, 5, 20, 1, 10, 2], 3, async (delay, index) => {
    peak = Math.max(peak, ++inFlight);
    await sleep(delay);
    inFlight--;
    return index * 10;
  });
  assert.deepEqual(results, [0, 10, 20, 30, 40, 50]);
  assert.equal(peak, 3);
});

test('mapConcurrently with fewer items than workers, and none', async () => {
  assert.deepEqual(await mapConcurrently([1], 8, async (value) => value + 1), [2]);
  assert.deepEqual(await mapConcurrently([], 8, async (value: number) => value), []);
});

test('the keyed limiter caps each key separately and passes failures through', async () => {
  const limit = createKeyedLimiter(2);
  const inFlight = new Map<string, number>();
  const peaks = new Map<string, number>();
  const task = (key: string) =>
    limit(key, async () => {
      const now = (inFlight.get(key) ?? 0) + 1;
      inFlight.set(key, now);
      peaks.set(key, Math.max(peaks.get(key) ?? 0, now));
      await sleep(5);
      inFlight.set(key, inFlight.get(key)! - 1);
      return key;
    });
  const keys = ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b'];
  assert.deepEqual(await Promise.all(keys.map(task)), keys);
  assert.deepEqual(Object.fromEntries(peaks), { a: 2, b: 2 });
  await assert.rejects(
    limit('a', async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await task('a'), 'a', 'a failed task frees its slot');
});
