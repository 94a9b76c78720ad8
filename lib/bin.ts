#!/usr/bin/env node
import packageJson from '../package.json' with { type: 'json' };
import { main } from './cli.ts';
import { haproxyNotifier } from './haproxy-notify.ts';

// `hapos-upd -d … | head` must not abort an update half-way: a closed pipe
// only loses output, as with the original's echo.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

process.exitCode = await main(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env, version: packageJson.version },
  haproxyNotifier,
);
