import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentFiles } from '../lib/fs/content-files.ts';

let directory: string;

before(async () => {
  directory = await mkdtemp(join(tmpdir(), 'hapos-upd-content-files-'));
});

after(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('ContentFiles', () => {
  it('one file per distinct text: the first under the plain name, the next ones numbered', async () => {
    const dir = await mkdtemp(join(directory, 'case-'));
    const files = new ContentFiles(dir, 'chain.pem');
    const [first, again, second, third] = await Promise.all([
      files.pathFor('intermediate A\n'),
      files.pathFor('intermediate A\n'),
      files.pathFor('intermediate B\n'),
      files.pathFor('intermediate C\n'),
    ]);
    assert.equal(first, join(dir, 'chain.pem'));
    assert.equal(again, first);
    assert.equal(second, join(dir, 'chain-2.pem'));
    assert.equal(third, join(dir, 'chain-3.pem'));
    assert.deepEqual((await readdir(dir)).sort(), ['chain-2.pem', 'chain-3.pem', 'chain.pem']);
    assert.equal(await readFile(second, 'utf8'), 'intermediate B\n');
  });

  it('keeps bytes above 0x7f as they were read (latin1 in, latin1 out)', async () => {
    const dir = await mkdtemp(join(directory, 'case-'));
    const text = Buffer.from([0x41, 0xe9, 0xff, 0x0a]).toString('latin1');
    const file = await new ContentFiles(dir, 'trust.pem').pathFor(text);
    assert.deepEqual(await readFile(file), Buffer.from([0x41, 0xe9, 0xff, 0x0a]));
  });

  it('fails for a directory that does not exist', async () => {
    const files = new ContentFiles(join(directory, 'missing'), 'chain.pem');
    await assert.rejects(files.pathFor('text'), { code: 'ENOENT' });
  });
});
