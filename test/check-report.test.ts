import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Chalk } from 'chalk';
import type { Finding } from '../lib/check/findings.ts';
import { run } from '../lib/process/run.ts';
import { renderFindingsJson, renderFindingsText, renderJunitXml } from '../lib/cli/check-report.ts';

/** Every character XML must escape, C0 controls XML 1.0 forbids outright, a lone surrogate, and an emoji that must survive. */
const nastyPath = `/etc/haproxy/a&b<c>"d"'e'\u001b[31m\u0000\tline\nbreak\uD800😀.pem`;
const plainPath = '/etc/haproxy/site.pem';
const cleanPath = '/etc/haproxy/clean.pem';

const findings: readonly Finding[] = [
  {
    cert: nastyPath,
    code: 'key-mismatch',
    severity: 'error',
    message: `the private key <in> "the" bundle & 'more' does not match\u0007`,
    kind: 'certificate',
  },
  {
    cert: nastyPath,
    code: 'ocsp-file-expired',
    severity: 'error',
    message: 'OCSP response has expired ]]> <![CDATA[',
    kind: 'ocsp',
  },
  { cert: nastyPath, code: 'must-staple', severity: 'warning', message: 'Must-Staple & <friends>', kind: 'ocsp' },
  {
    cert: plainPath,
    code: 'no-ocsp-url',
    severity: 'warning',
    message: 'OCSP server URL not found',
    kind: 'no-ocsp-url',
  },
];

/** What XML 1.0 cannot carry at all, shown as `\uXXXX` by the JUnit writer. */
const xmlSafe = (text: string) =>
  text.replace(
    /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF]/gu,
    (character) => `\\u${character.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`,
  );

interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  readonly text: string;
}

const entities: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(raw: string): string {
  assert.doesNotMatch(raw, /</, `raw < in ${JSON.stringify(raw)}`);
  return raw.replace(/&([^;&]*)(;?)/g, (_match, body: string, semicolon: string) => {
    assert.equal(semicolon, ';', `unterminated reference in ${JSON.stringify(raw)}`);
    const numeric = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(body)?.[1];
    if (numeric) return String.fromCodePoint(Number(numeric.startsWith('x') ? `0${numeric}` : numeric));
    const named = entities[body];
    assert.ok(named !== undefined, `unknown entity &${body};`);
    return named;
  });
}

/** Just enough of XML to check the structure strictly: elements, double-quoted attributes, text, references. */
function parseXml(xml: string): XmlElement {
  assert.doesNotMatch(xml, /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/u, 'forbidden character');
  const prolog = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/.exec(xml);
  assert.ok(prolog, 'XML declaration');
  let position = prolog[0].length;

  function parseElement(): XmlElement {
    const openTag = /<([A-Za-z][\w-]*)((?:\s+[\w-]+="[^"]*")*)\s*(\/?)>/y;
    openTag.lastIndex = position;
    const open = openTag.exec(xml);
    assert.ok(open, `element expected at ${position}: ${JSON.stringify(xml.slice(position, position + 40))}`);
    position = openTag.lastIndex;
    const [, name = '', rawAttributes = '', selfClosing] = open;
    const attributes: Record<string, string> = {};
    for (const [, attribute = '', value = ''] of rawAttributes.matchAll(/([\w-]+)="([^"]*)"/g)) {
      assert.ok(!(attribute in attributes), `duplicate attribute ${attribute}`);
      attributes[attribute] = decodeEntities(value);
    }
    const children: XmlElement[] = [];
    let text = '';
    if (selfClosing) return { name, attributes, children, text };
    for (;;) {
      if (xml.startsWith(`</${name}>`, position)) {
        position += name.length + 3;
        return { name, attributes, children, text };
      }
      assert.ok(!xml.startsWith('</', position), `mismatched end tag at ${position}`);
      if (xml[position] === '<') {
        children.push(parseElement());
        continue;
      }
      const end = xml.indexOf('<', position);
      assert.ok(end > position, `unterminated <${name}>`);
      text += decodeEntities(xml.slice(position, end));
      position = end;
    }
  }

  const root = parseElement();
  assert.match(xml.slice(position), /^\s*$/, 'content after the root element');
  return root;
}

const elements = (parent: XmlElement, name: string) => parent.children.filter((child) => child.name === name);

describe('the counts of errors and warnings', () => {
  it('are those of the findings, none for none', () => {
    const counts = (text: string) => {
      const { errors, warnings } = JSON.parse(text) as { errors: number; warnings: number };
      return { errors, warnings };
    };
    assert.deepEqual(counts(renderFindingsJson(findings)), { errors: 2, warnings: 2 });
    assert.deepEqual(counts(renderFindingsJson([])), { errors: 0, warnings: 0 });
  });
});

describe('renderFindingsJson', () => {
  it('writes exactly one JSON document of the documented shape, strings intact', () => {
    const text = renderFindingsJson(findings);
    assert.ok(text.endsWith('}\n') && !text.endsWith('\n\n'));
    const document: unknown = JSON.parse(text);
    assert.deepEqual(document, {
      findings: findings.map(({ cert, code, severity, message }) => ({ cert, code, severity, message })),
      errors: 2,
      warnings: 2,
    });
    assert.deepEqual(Object.keys(document as object), ['findings', 'errors', 'warnings']);
    assert.doesNotMatch(text, /[\u0000-\u0009\u000B-\u001F]/, 'raw control characters besides the newlines');
  });

  it('writes an empty list when nothing was found', () => {
    assert.deepEqual(JSON.parse(renderFindingsJson([])), { findings: [], errors: 0, warnings: 0 });
  });
});

describe('renderJunitXml', () => {
  const xml = renderJunitXml([nastyPath, plainPath, cleanPath], findings);
  let parsed: XmlElement | undefined;
  /** Parsed inside the tests, so that malformed XML fails them rather than the suite's construction. */
  const parsedSuite = () => (parsed ??= parseXml(xml));

  it('holds one test suite with one test case per certificate', () => {
    const suite = parsedSuite();
    assert.equal(suite.name, 'testsuite');
    assert.deepEqual(suite.attributes, { name: 'hapos-upd --check', tests: '3', failures: '1', errors: '0' });
    const cases = elements(suite, 'testcase');
    assert.deepEqual(
      cases.map((testCase) => testCase.attributes),
      [nastyPath, plainPath, cleanPath].map((name) => ({ classname: 'hapos-upd', name: xmlSafe(name) })),
    );
  });

  it('reports each error as a failure typed by its code, escaped and round-tripping', () => {
    const suite = parsedSuite();
    const [nasty] = elements(suite, 'testcase');
    assert.ok(nasty);
    const failures = elements(nasty, 'failure');
    assert.deepEqual(
      failures.map((failure) => failure.attributes),
      [
        { message: xmlSafe(findings[0]!.message), type: 'key-mismatch' },
        { message: findings[1]!.message, type: 'ocsp-file-expired' },
      ],
    );
    assert.deepEqual(
      failures.map((failure) => failure.text),
      [xmlSafe(findings[0]!.message), findings[1]!.message],
    );
  });

  it('puts warnings in system-out and leaves clean certificates empty', () => {
    const suite = parsedSuite();
    const [nasty, plain, clean] = elements(suite, 'testcase');
    assert.deepEqual(
      elements(nasty!, 'system-out').map((out) => out.text),
      ['warning must-staple: Must-Staple & <friends>\n'],
    );
    assert.deepEqual(
      plain!.children.map((child) => child.name),
      ['system-out'],
    );
    assert.equal(elements(plain!, 'system-out')[0]!.text, 'warning no-ocsp-url: OCSP server URL not found\n');
    assert.deepEqual(clean!.children, []);
  });

  it('keeps newlines and tabs of attribute values as references', () => {
    assert.ok(xml.includes('&#9;line&#10;break'));
    assert.ok(!xml.includes('\u001b') && !xml.includes('\u0000'));
  });

  it('adds a test case for a certificate only the findings name', () => {
    const onlyFromFindings = parseXml(renderJunitXml([], findings.slice(3)));
    assert.deepEqual(
      elements(onlyFromFindings, 'testcase').map((testCase) => testCase.attributes.name),
      [plainPath],
    );
    assert.equal(onlyFromFindings.attributes.failures, '0');
  });

  it("is well-formed for Python's expat too", async (t) => {
    const check = 'import sys, xml.dom.minidom; xml.dom.minidom.parseString(sys.stdin.buffer.read())';
    const result = await run('python3', ['-c', check], { input: xml });
    if (result.exitCode === 127) return t.skip('python3 not installed');
    assert.equal(result.exitCode, 0, result.stderr);
  });
});

describe('renderFindingsText', () => {
  it('groups findings by certificate, shows clean ones as OK, and sums up', () => {
    const text = renderFindingsText(findings.slice(3), new Chalk({ level: 0 }), [plainPath, cleanPath]);
    assert.equal(
      text,
      [
        `${plainPath}`,
        `  warning no-ocsp-url: OCSP server URL not found`,
        `${cleanPath}: OK`,
        `2 certificates: 0 errors, 1 warning`,
        '',
      ].join('\n'),
    );
  });

  it('colours only through the palette, and escapes control characters of paths and messages', () => {
    const plain = renderFindingsText(findings, new Chalk({ level: 0 }));
    assert.doesNotMatch(plain, /[\u0000-\u0008\u000B-\u001F\u007F]/);
    assert.ok(plain.includes('\\u001B[31m\\u0000\\u0009line\\u000Abreak\\uD800😀.pem\n'));
    assert.ok(
      plain.includes('  error   key-mismatch: the private key <in> "the" bundle & \'more\' does not match\\u0007\n'),
    );
    assert.ok(plain.endsWith('2 certificates: 2 errors, 2 warnings\n'));
    const coloured = renderFindingsText(findings, new Chalk({ level: 1 }));
    assert.match(coloured, /\u001b\[31merror {2}\u001b\[39m/);
    assert.equal(coloured.replace(/\u001b\[\d+m/g, ''), plain);
  });
});
