// What bin.ts loads for a run, bundled apart as CommonJS so that it can be
// compiled from V8's code cache (code-cache.ts).
export { main } from './main.ts';
