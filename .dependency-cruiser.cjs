// The folders of lib/ depend one way (ARCHITECTURE.md): cli on update,
// check and status, those on the domain folders (pki, openssl, responder,
// haproxy, sources), those on fs, process and util. `make test` fails on any import against that order
// and on any import cycle.
const domain = '^lib/(pki|openssl|responder|haproxy|sources)/';
const below = (folders) => `^lib/(${folders.join('|')})/`;

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'cli-is-the-top',
      comment: 'Only the command line itself imports from lib/cli/.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/cli/' },
      to: { path: '^lib/cli/' },
    },
    {
      name: 'update-below-check',
      comment: '--check runs the update as a dry run; the update knows nothing of --check.',
      severity: 'error',
      from: { path: '^lib/update/' },
      to: { path: '^lib/check/' },
    },
    {
      name: 'status-apart',
      comment: '--status only reads what HAProxy serves: it neither updates nor checks, and neither of those reports status.',
      severity: 'error',
      from: { path: '^lib/status/' },
      to: { path: below(['update', 'check']) },
    },
    {
      name: 'flows-apart-from-status',
      severity: 'error',
      from: { path: below(['update', 'check']) },
      to: { path: '^lib/status/' },
    },
    {
      name: 'domain-below-the-flows',
      severity: 'error',
      from: { path: `${domain}|${below(['fs', 'process', 'util'])}` },
      to: { path: below(['update', 'check', 'status']) },
    },
    {
      name: 'domain-folders-apart',
      comment: 'pki, haproxy and sources are independent; openssl reads what pki decodes, and responder uses both.',
      severity: 'error',
      from: { path: '^lib/(pki|haproxy|sources)/' },
      to: { path: domain, pathNot: '^lib/$1/' },
    },
    {
      name: 'openssl-only-on-pki',
      severity: 'error',
      from: { path: '^lib/openssl/' },
      to: { path: below(['responder', 'haproxy', 'sources']) },
    },
    {
      name: 'responder-on-openssl-and-pki',
      comment: 'Asking a responder builds on what openssl runs and pki decodes, and on nothing else of the domain.',
      severity: 'error',
      from: { path: '^lib/responder/' },
      to: { path: below(['haproxy', 'sources']) },
    },
    {
      name: 'infrastructure-below-the-domain',
      severity: 'error',
      from: { path: below(['fs', 'process', 'util']) },
      to: { path: domain },
    },
    {
      name: 'process-and-util-below-fs',
      severity: 'error',
      from: { path: below(['process', 'util']) },
      to: { path: '^lib/fs/' },
    },
    {
      name: 'util-at-the-bottom',
      severity: 'error',
      from: { path: '^lib/util/' },
      to: { path: '^lib/', pathNot: '^lib/util/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
