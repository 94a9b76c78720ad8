/**
 * `--check` reports: JSON and JUnit XML for pipelines, text for people.
 * The process exit status carries the exit code, so the documents leave it out.
 */
import type { ChalkInstance } from 'chalk';
import type { Finding } from '../check/findings.ts';
import { escapeCharacter, escapeControls } from '../util/printable.ts';

interface FindingCounts {
  readonly errors: number;
  readonly warnings: number;
}

function countFindings(findings: readonly Finding[]): FindingCounts {
  const errors = findings.filter((finding) => finding.severity === 'error').length;
  return { errors, warnings: findings.length - errors };
}

/** Exactly one JSON document: `{"findings": [{cert, code, severity, message}…], "errors": N, "warnings": N}`. */
export function renderFindingsJson(findings: readonly Finding[]): string {
  const document = {
    findings: findings.map(({ cert, code, severity, message }) => ({ cert, code, severity, message })),
    ...countFindings(findings),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/**
 * Characters XML 1.0 forbids even as references (C0 controls but tab, CR
 * and LF; U+FFFE, U+FFFF; lone surrogates, which the u flag isolates).
 */
const XML_FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/gu;

const xmlEntities: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // Attribute-value normalisation would turn these into spaces.
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

function xmlText(value: string): string {
  return value.replace(XML_FORBIDDEN, escapeCharacter).replace(/[&<>]/g, (character) => xmlEntities[character] ?? '');
}

function xmlAttribute(value: string): string {
  return value
    .replace(XML_FORBIDDEN, escapeCharacter)
    .replace(/[&<>"'\t\n\r]/g, (character) => xmlEntities[character] ?? '');
}

const attributes = (pairs: Readonly<Record<string, string | number>>) =>
  Object.entries(pairs)
    .map(([name, value]) => ` ${name}="${xmlAttribute(String(value))}"`)
    .join('');

/** The certificates asked for, in order, then any other certificate a finding names. */
function certificatesOf(certs: readonly string[], findings: readonly Finding[]): string[] {
  return [...new Set([...certs, ...findings.map((finding) => finding.cert)])];
}

function junitTestCase(cert: string, findings: readonly Finding[]): string {
  const own = findings.filter((finding) => finding.cert === cert);
  const failures = own
    .filter((finding) => finding.severity === 'error')
    .map(
      (finding) =>
        `    <failure${attributes({ message: finding.message, type: finding.code })}>${xmlText(finding.message)}</failure>\n`,
    );
  const warnings = own
    .filter((finding) => finding.severity === 'warning')
    .map((finding) => `warning ${finding.code}: ${finding.message}\n`);
  const systemOut = warnings.length > 0 ? `    <system-out>${xmlText(warnings.join(''))}</system-out>\n` : '';
  const open = `  <testcase${attributes({ classname: 'hapos-upd', name: cert })}`;
  return failures.length + warnings.length === 0
    ? `${open}/>\n`
    : `${open}>\n${failures.join('')}${systemOut}  </testcase>\n`;
}

/**
 * JUnit XML: one `<testcase>` per certificate in one `<testsuite>`, a
 * `<failure>` per error (type = the finding code), warnings in the test
 * case's `<system-out>`. `failures` counts the failed test cases.
 */
export function renderJunitXml(certs: readonly string[], findings: readonly Finding[]): string {
  const cases = certificatesOf(certs, findings);
  const failed = cases.filter((cert) =>
    findings.some((finding) => finding.cert === cert && finding.severity === 'error'),
  );
  const suite = attributes({ name: 'hapos-upd --check', tests: cases.length, failures: failed.length, errors: 0 });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>\n',
    `<testsuite${suite}>\n`,
    ...cases.map((cert) => junitTestCase(cert, findings)),
    '</testsuite>\n',
  ].join('');
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/**
 * A report for people, grouped by certificate: `certs` lists the checked
 * certificates, so that those without findings show as OK (by default, the
 * certificates the findings name). Control characters are shown escaped, so
 * a file name cannot play tricks on the terminal.
 */
export function renderFindingsText(
  findings: readonly Finding[],
  palette: ChalkInstance,
  certs: readonly string[] = [],
): string {
  const severityLabel = { error: palette.red('error  '), warning: palette.yellow('warning') } as const;
  const sections = certificatesOf(certs, findings).map((cert) => {
    const own = findings.filter((finding) => finding.cert === cert);
    const heading = palette.bold(escapeControls(cert));
    if (own.length === 0) return `${heading}: ${palette.green('OK')}\n`;
    const lines = own.map(
      (finding) =>
        `  ${severityLabel[finding.severity]} ${palette.dim(finding.code)}: ${escapeControls(finding.message)}\n`,
    );
    return `${heading}\n${lines.join('')}`;
  });
  const { errors, warnings } = countFindings(findings);
  const summary = `${plural(sections.length, 'certificate')}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`;
  return `${sections.join('')}${errors > 0 ? palette.red(summary) : summary}`;
}
