import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printableLine, printableText, shorten } from '../lib/util/printable.ts';

test('a line keeps no control character: newlines, escapes, bells, C1 controls and reordering marks are shown escaped', () => {
  assert.equal(
    printableLine('a\nError processing\u001b[31m\u0007\u009b\u202eend\t\r\u0000'),
    'a\\u000AError processing\\u001B[31m\\u0007\\u009B\\u202Eend\\u0009\\u000D\\u0000',
  );
  assert.equal(printableLine('plain text, é, 😀 and a \\ backslash'), 'plain text, é, 😀 and a \\ backslash');
  assert.equal(printableLine('half a pair: \uD800!'), 'half a pair: \\uD800!');
});

test('text of several lines keeps its line feeds and tabs, and nothing else', () => {
  assert.equal(
    printableText('ee.pem: good\n\tThis Update: x\u001b[2J\r'),
    'ee.pem: good\n\tThis Update: x\\u001B[2J\\u000D',
  );
});

test('a huge line is cut to the limit, 2000 characters, and says how much was left out', () => {
  const line = printableLine('x'.repeat(190_000));
  assert.equal(line.length, 2000);
  assert.match(line, /^x+… \(\d+ more characters\)$/);
  const omitted = Number(/\((\d+) more/.exec(line)![1]);
  assert.equal(line.indexOf('…') + omitted, 190_000);
});

test('cutting never splits a character made of two code units', () => {
  const cut = shorten('😀'.repeat(50), 30);
  assert.doesNotMatch(cut, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  assert.ok(cut.length <= 30);
  assert.equal(shorten('short', 30), 'short');
});
