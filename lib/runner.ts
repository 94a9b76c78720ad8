// What bin.ts loads for a run, bundled apart as CommonJS so that it can be
// compiled from V8's code cache (code-cache.ts).
export { main } from './cli.ts';
export { haproxyNotifier } from './haproxy-notify.ts';
