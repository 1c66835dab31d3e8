/**
 * The schema ships in three forms; each must load, and all three must
 * define the same attribute types and object classes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ensureSlapdInstalled, projectRoot } from '../scripts/slapd.js';

const run = promisify(execFile);
const schema = (name: string) => path.join(projectRoot, 'schema', name);

/** Unfolds LDIF continuation lines. */
function unfold(text: string): string {
  return text.replace(/\r?\n /g, '');
}

/** OID and NAME of every definition, in file order. */
function definitions(text: string): string[] {
  const found = unfold(text).matchAll(/\(\s*([0-9.]+)\s+NAME\s+'([^']+)'/g);
  return [...found].map(([, oid, name]) => `${oid} ${name}`);
}

describe('schema files', () => {
  test('all three forms define the same names under one 2.25 arc', async () => {
    const forms = await Promise.all(
      [
        'prometheus-eventqueue.schema',
        'prometheus-eventqueue.ldif',
        '389ds/99prometheus-eventqueue.ldif',
      ].map(async (name) => definitions(await readFile(schema(name), 'utf8'))),
    );
    const [reference] = forms;
    assert.ok(reference !== undefined && reference.length >= 4);
    for (const form of forms) assert.deepEqual(form, reference);
    for (const definition of reference)
      assert.match(definition, /^2\.25\.\d+\./);
    const names = reference.map((definition) => definition.split(' ')[1]);
    for (const name of [
      'eventHash',
      'eventConduit',
      'eventArgument',
      'prometheusEvent',
    ]) {
      assert.ok(names.includes(name), `${name} is defined`);
    }
  });

  test('the cn=config LDIF loads into an OpenLDAP configuration', async (t) => {
    await ensureSlapdInstalled();
    const folder = await mkdtemp(path.join(tmpdir(), 'pe-schema-'));
    t.after(() => rm(folder, { recursive: true, force: true }));
    const configDir = path.join(folder, 'slapd.d');
    await mkdir(configDir);
    const ldif = [
      'dn: cn=config',
      'objectClass: olcGlobal',
      'cn: config',
      '',
      'dn: cn=schema,cn=config',
      'objectClass: olcSchemaConfig',
      'cn: schema',
      '',
      'include: file:///etc/ldap/schema/core.ldif',
      '',
      `include: file://${schema('prometheus-eventqueue.ldif')}`,
      '',
    ].join('\n');
    await writeFile(path.join(folder, 'config.ldif'), ldif);
    await run('/usr/sbin/slapadd', [
      '-n0',
      '-F',
      configDir,
      '-l',
      path.join(folder, 'config.ldif'),
    ]);
    const { stdout } = await run('/usr/sbin/slapcat', ['-n0', '-F', configDir]);
    assert.match(
      unfold(stdout),
      /olcObjectClasses: \{0\}\( 2\.25\.\d+\.2\.1 NAME 'prometheusEvent'/,
    );
  });
});
