import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendTo } from '../lib/util/multimap.ts';

test('appendTo adds to the list in place, creating it for a new key', () => {
  const lists = new Map<string, number[]>();
  appendTo(lists, 'a', 1);
  const list = lists.get('a');
  appendTo(lists, 'a', 2);
  appendTo(lists, 'b', 3);
  // The same array: copying it on every append is what made grouping a batch quadratic.
  assert.equal(lists.get('a'), list);
  assert.deepEqual(Object.fromEntries(lists), { a: [1, 2], b: [3] });
});
