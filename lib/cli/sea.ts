// The single executable's entry (scripts/build-sea.mjs): one CommonJS
// script, the only kind a Node 20 single executable runs, compiled from the
// code cache Node puts in the executable. esbuild turns the dynamic imports
// into functions that run their module's top level on first call, so
// `--help` and `--version` still run none of the runner's.
import { start } from './start.ts';

void start(process.argv.slice(2), () => import('./runner.ts'));
