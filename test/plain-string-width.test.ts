import { test } from 'node:test';
import assert from 'node:assert/strict';
import stringWidth from '../lib/cli/plain-string-width.ts';

test('counts code points, not UTF-16 units, and ignores terminal escapes', () => {
  assert.equal(stringWidth('--cert'), 6);
  assert.equal(stringWidth('\u001b[31m--cert\u001b[39m'), 6);
  assert.equal(stringWidth('𝒳é'), 2);
  assert.equal(stringWidth(''), 0);
});
