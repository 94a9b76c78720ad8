import { HaposError, ExitCode } from './errors.ts';
import { run } from './exec.ts';
import type { CliOptions } from './cli-args.ts';
import type { RunLog } from './run-log.ts';
import type { HaproxyNotifier } from './updater.ts';

/** Step 12's HAProxy part, as the original: a reload for a first response, else the admin socket. */
export function haproxyNotifier(options: CliOptions, log: RunLog): HaproxyNotifier {
  return {
    async notify({ hadResponse }) {
      if (!hadResponse) {
        log.debug('Reloading haproxy.');
        const reloaded = await run('service', ['haproxy', 'reload']);
        if (reloaded.exitCode !== 0) {
          throw new HaposError(ExitCode.haproxy, "can't reload haproxy with 'service haproxy reload'");
        }
        return;
      }
      log.debug('Updating haproxy.');
      throw new HaposError(
        ExitCode.haproxy,
        `can't update haproxy ssl ocsp-response using ${options.sockets[0]} socket`,
      );
    },
  };
}
