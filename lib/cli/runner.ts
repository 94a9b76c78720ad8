// What bin.ts loads for a run, bundled apart as CommonJS so that it can be
// compiled from V8's code cache (code-cache.ts).
import { haproxyNotifier as notifierWith } from '../haproxy/notifier.ts';
import type { NotifierFactory } from './run-updates.ts';

export { main } from './main.ts';

/** The notifier for a run: the HAProxy settings picked out of the command line and the environment. */
export const haproxyNotifier: NotifierFactory = (options, log, env) =>
  notifierWith(
    {
      sockets: options.sockets,
      useSocat: options.useSocat,
      reloadCommand: options.reloadCommand,
      socatBinary: env.SOCAT_BIN || undefined,
    },
    log,
  );
