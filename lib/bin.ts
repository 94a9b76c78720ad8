#!/usr/bin/env node
import packageJson from '../package.json' with { type: 'json' };
import { main } from './cli.ts';
import { haproxyNotifier } from './haproxy-notify.ts';

process.exitCode = await main(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env, version: packageJson.version },
  haproxyNotifier,
);
