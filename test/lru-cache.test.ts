import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LruCache } from '../lib/util/lru-cache.ts';

test('a held value is returned without computing it again', () => {
  const cache = new LruCache<string, number>(2);
  let computed = 0;
  const length = (key: string) => (computed++, key.length);
  assert.equal(cache.getOrCompute('abc', length), 3);
  assert.equal(cache.getOrCompute('abc', length), 3);
  assert.equal(computed, 1);
});

test('undefined is a value like any other', () => {
  const cache = new LruCache<string, number | undefined>(2);
  let computed = 0;
  cache.getOrCompute('x', () => (computed++, undefined));
  cache.getOrCompute('x', () => (computed++, undefined));
  assert.equal(computed, 1);
});

test('past the limit the least recently used entry is dropped', () => {
  const cache = new LruCache<string, string>(2);
  const computed: string[] = [];
  const get = (key: string) => cache.getOrCompute(key, (k) => (computed.push(k), k));
  get('a');
  get('b');
  get('a'); // a is now more recent than b
  get('c'); // drops b
  get('a');
  get('b');
  assert.deepEqual(computed, ['a', 'b', 'c', 'b']);
});

test('a computation that throws leaves nothing behind', () => {
  const cache = new LruCache<string, number>(2);
  assert.throws(() =>
    cache.getOrCompute('bad', () => {
      throw new Error('undecodable');
    }),
  );
  assert.equal(
    cache.getOrCompute('bad', () => 7),
    7,
  );
});
