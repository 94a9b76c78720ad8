// contrib/: the systemd service and timer (checked by systemd-analyze, in a
// root of their own), the cron line (run by sh, with the command found on
// PATH or through npm's prefix), the alert rules (their metrics and labels
// are those a real run writes); and the command lines of all three are ones
// hapos-upd accepts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../lib/process/run.ts';
import { parseCommandLine, type CliOptions } from '../lib/cli/args.ts';
import { createTestPki, type TestPki } from './helpers/pki.ts';
import { runCli } from './helpers/cli.ts';
import { parseMetricsFile } from './helpers/prometheus.ts';

const contrib = fileURLToPath(new URL('../contrib/', import.meta.url));
const service = path.join(contrib, 'hapos-upd.service');
const timer = path.join(contrib, 'hapos-upd.timer');

let workDir: string;

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-contrib-'));
});

after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** What hapos-upd makes of ARGS: it must be a run. */
function optionsOf(args: readonly string[]): CliOptions {
  const parsed = parseCommandLine(args);
  assert.equal(parsed.kind, 'run', JSON.stringify(parsed));
  return (parsed as { options: CliOptions }).options;
}

/** The values of KEY in a unit file, in order. */
function settings(unit: string, key: string): string[] {
  return [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((match) => match[1]!);
}

describe('the systemd service and timer', () => {
  const systemUnits = '/usr/lib/systemd/system';

  /**
   * A root holding the host's own units (the targets the service and timer
   * hang on), ours, and a stand-in at the ExecStart path, which verify wants
   * to find executable.
   */
  async function unitRoot(serviceText?: string): Promise<string> {
    const root = await mkdtemp(path.join(workDir, 'root-'));
    await mkdir(path.join(root, 'usr/lib/systemd'), { recursive: true });
    await cp(systemUnits, path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    const units = path.join(root, 'etc/systemd/system');
    await mkdir(units, { recursive: true });
    await writeFile(path.join(units, 'hapos-upd.service'), serviceText ?? (await readFile(service, 'utf8')));
    await copyFile(timer, path.join(units, 'hapos-upd.timer'));
    const [binary] = settings(await readFile(service, 'utf8'), 'ExecStart')[0]!.split(' ');
    await mkdir(path.join(root, path.dirname(binary!)), { recursive: true });
    await writeFile(path.join(root, binary!), '#!/bin/sh\n', { mode: 0o755 });
    return root;
  }

  const verify = (root: string) =>
    run('systemd-analyze', ['verify', `--root=${root}`, 'hapos-upd.service', 'hapos-upd.timer']);

  test('systemd-analyze verify finds nothing to say of either unit', async () => {
    const result = await verify(await unitRoot());
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '', 'no warning either: an unknown key is only a warning');
    assert.equal(result.stdout, '');
  });

  test('a misspelt setting would not go unnoticed: verify names it', async () => {
    const misspelt = (await readFile(service, 'utf8')).replace('NoNewPrivileges=', 'NoNewPrivilege=');
    const result = await verify(await unitRoot(misspelt));
    assert.match(result.stderr, /Unknown key name 'NoNewPrivilege'|Unknown key 'NoNewPrivilege'/);
  });

  test("the hardening keeps systemd-analyze security's exposure at 3.0 or below", async () => {
    const root = await unitRoot();
    const result = await run('systemd-analyze', [
      'security',
      '--offline=yes',
      `--root=${root}`,
      '--threshold=30',
      'hapos-upd.service',
    ]);
    assert.equal(result.exitCode, 0, `${result.stdout}${result.stderr}`);
    for (const setting of ['ProtectSystem=strict', 'NoNewPrivileges=yes', 'PrivateTmp=yes']) {
      assert.match(await readFile(service, 'utf8'), new RegExp(`^${setting}$`, 'm'));
    }
  });

  test('ExecStart is a --skip-fresh run with --metrics, and may write where it writes: its --dir and the metrics directory', async () => {
    const unit = await readFile(service, 'utf8');
    const [binary, ...args] = settings(unit, 'ExecStart')[0]!.split(' ');
    assert.ok(path.isAbsolute(binary!), binary);
    const options = optionsOf(args);
    assert.equal(options.skipFresh, true);
    assert.equal(options.json, false);
    const writable = settings(unit, 'ReadWritePaths').flatMap((value) =>
      value.split(' ').map((entry) => entry.replace(/^-/, '')),
    );
    for (const dir of options.dirs) assert.ok(writable.includes(dir), dir);
    assert.ok(writable.includes(path.dirname(options.metricsFile!)), options.metricsFile);
    assert.match(options.metricsFile!, /\.prom$/, "node_exporter's textfile collector reads *.prom only");
    assert.equal(settings(unit, 'Type')[0], 'oneshot');
  });
});

describe('the cron line', () => {
  const cronFile = path.join(contrib, 'hapos-upd.cron');

  async function job(): Promise<{ fields: string[]; user: string; command: string }> {
    const lines = (await readFile(cronFile, 'utf8')).split('\n');
    const jobs = lines.filter((line) => line !== '' && !line.startsWith('#') && !/^[A-Z_]+=/.test(line));
    assert.equal(jobs.length, 1, jobs.join('\n'));
    const [minute, hour, day, month, weekday, user, ...command] = jobs[0]!.split(' ');
    assert.ok(!jobs[0]!.includes('%'), 'cron turns % into a line feed');
    return { fields: [minute!, hour!, day!, month!, weekday!], user: user!, command: command.join(' ') };
  }

  /** A stand-in for hapos-upd in DIR/bin that writes its arguments, one per line, to DIR/args. */
  async function standIn(dir: string): Promise<string> {
    await mkdir(path.join(dir, 'bin'), { recursive: true });
    const binary = path.join(dir, 'bin', 'hapos-upd');
    await writeFile(binary, `#!/bin/sh\nprintf '%s\\n' "$@" > '${dir}/args'\n`);
    await chmod(binary, 0o755);
    return binary;
  }

  /** Runs the job's command as cron would, with sh and only PATH in its environment. */
  async function runJob(pathDirs: readonly string[]): Promise<void> {
    const result = await run('/usr/bin/env', [
      '-i',
      `PATH=${[...pathDirs, '/usr/bin', '/bin'].join(':')}`,
      'sh',
      '-c',
      (await job()).command,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
  }

  const recordedArgs = async (dir: string) => (await readFile(path.join(dir, 'args'), 'utf8')).trimEnd().split('\n');

  test('hourly as root, with arguments hapos-upd accepts: --skip-fresh, and --metrics into a .prom file', async () => {
    const { fields, user, command } = await job();
    assert.deepEqual([fields.slice(1), user], [['*', '*', '*', '*'], 'root']);
    assert.match(fields[0]!, /^\d+$/);
    const options = optionsOf(command.replace(/^.* exec "\$bin" /, '').split(' '));
    assert.equal(options.skipFresh, true);
    assert.match(options.metricsFile!, /\.prom$/);
  });

  test('finds hapos-upd on PATH', async () => {
    const prefix = await mkdtemp(path.join(workDir, 'prefix-'));
    await standIn(prefix);
    await runJob([path.join(prefix, 'bin')]);
    const args = await recordedArgs(prefix);
    assert.equal(optionsOf(args).skipFresh, true);
  });

  test("finds hapos-upd under npm's global prefix when it is not on PATH", async () => {
    const prefix = await mkdtemp(path.join(workDir, 'prefix-'));
    await standIn(prefix);
    const npmDir = await mkdtemp(path.join(workDir, 'npm-'));
    await writeFile(path.join(npmDir, 'npm'), `#!/bin/sh\n[ "$*" = "prefix -g" ] && echo '${prefix}'\n`, {
      mode: 0o755,
    });
    await runJob([npmDir]);
    assert.equal(optionsOf(await recordedArgs(prefix)).skipFresh, true);
  });
});

describe('the alert rules', () => {
  let pki: TestPki;

  before(async () => {
    pki = await createTestPki();
  });

  after(async () => {
    await pki?.close();
  });

  interface Rule {
    readonly alert: string;
    readonly expr: string;
    readonly labels: Record<string, string>;
    readonly annotations: Record<string, string>;
  }

  async function rules(): Promise<Rule[]> {
    const script = 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))';
    const parsed = await run('/usr/bin/python3', ['-c', script, path.join(contrib, 'hapos-upd.rules.yml')]);
    assert.equal(parsed.exitCode, 0, parsed.stderr);
    const document = JSON.parse(parsed.stdout) as { groups: { name: string; rules: Rule[] }[] };
    return document.groups.flatMap((group) => group.rules);
  }

  test('a staple expiring within 24 h, a revoked certificate, a failed run and one that stopped running', async () => {
    const found = await rules();
    assert.deepEqual(
      found.map((rule) => rule.alert),
      ['OcspStapleExpiringSoon', 'OcspCertificateRevoked', 'HaposUpdRunFailed', 'HaposUpdNotRunning'],
    );
    assert.match(found[0]!.expr, /hapos_ocsp_next_update_timestamp_seconds.* - time\(\) < 24 \* 3600$/);
    assert.match(found[2]!.expr, /^hapos_ocsp_run_exit_code != 0$/);
    for (const rule of found) {
      assert.ok(['warning', 'critical'].includes(rule.labels.severity!), rule.alert);
      assert.ok(rule.annotations.summary, rule.alert);
    }
  });

  test('every metric and label they name is one a real run writes (instance aside, which Prometheus adds)', async () => {
    const dir = await mkdtemp(path.join(workDir, 'certs-'));
    const cert = path.join(dir, 'site.pem');
    await copyFile(pki.leaves.revoked.bundleWithKey, cert);
    const file = path.join(dir, 'hapos-upd.prom');
    const result = await runCli(['-S', '--cert', cert, '--metrics', file], { env: pki.env });
    assert.equal(result.exitCode, 0, result.stderr);
    const families = await parseMetricsFile(file);
    const labelsOf = new Map(
      families.map((family) => [family.name, new Set(family.samples.flatMap((sample) => Object.keys(sample.labels)))]),
    );
    for (const rule of await rules()) {
      const metrics = rule.expr.match(/hapos_[a-z_]+/g) ?? [];
      assert.ok(metrics.length > 0, rule.alert);
      for (const metric of metrics) {
        assert.ok(labelsOf.has(metric), `${rule.alert}: ${metric}`);
        const used = [
          ...[...rule.expr.matchAll(/by \(([^)]*)\)/g)].flatMap((match) => match[1]!.split(/,\s*/)),
          ...[...rule.expr.matchAll(/\{([^}]*)\}/g)].flatMap((match) =>
            match[1]!.split(',').map((pair) => pair.split('=')[0]!),
          ),
          ...[
            ...Object.values(rule.annotations)
              .join(' ')
              .matchAll(/\$labels\.([a-z_]+)/g),
          ].map((match) => match[1]!),
        ].filter((label) => label !== 'instance');
        for (const label of used) assert.ok(labelsOf.get(metric)!.has(label), `${rule.alert}: ${metric} has ${label}`);
      }
    }
  });
});
