import { stripVTControlCharacters } from 'node:util';

/**
 * Stands in for the string-width package in the bundle (see
 * scripts/build.mjs). yargs needs it only to lay out its own usage text,
 * which this tool never prints (help.ts has ours), yet its module start
 * builds an Intl.Segmenter and Unicode-property regular expressions that cost
 * about 40 ms of every run. Counting code points is enough for yargs' error
 * messages, the only yargs output we read.
 */
export default function stringWidth(text: string): number {
  return [...stripVTControlCharacters(text)].length;
}
