/** What the operating system says of a path: the code of its refusal, or what is there instead of a regular file. */
import type { Stats } from 'node:fs';

/** The `code` of a Node.js system error (`ENOENT`, `EACCES`…), if it has one. */
export function systemErrorCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

/** What is at a path instead of a regular file. */
export type SpecialFileType =
  'directory' | 'FIFO' | 'character device' | 'block device' | 'socket' | 'symbolic link' | 'special file';

export function specialFileType(stats: Stats): SpecialFileType {
  if (stats.isDirectory()) return 'directory';
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isCharacterDevice()) return 'character device';
  if (stats.isBlockDevice()) return 'block device';
  if (stats.isSocket()) return 'socket';
  if (stats.isSymbolicLink()) return 'symbolic link';
  return 'special file';
}
