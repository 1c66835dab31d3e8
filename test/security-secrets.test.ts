/**
 * Secrets: the agent warns at start when its configuration or password
 * file is open beyond owner and group, and the bind password appears in no
 * log line, error message or conduit environment.
 */
import assert from 'node:assert/strict';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import { AgentProcess, QueueFixture } from './support/queue-fixture.js';

const PASSWORD = 'Zq7-distinctive-Secret-93xk';
const AGENT_DN = 'cn=agent,dc=example,dc=test';
const WARNING = 'can be read or written by others than its owner and group';

let slapd: Slapd;
before(async () => {
  slapd = await Slapd.start({
    databaseConfig: [
      'access to attrs=userPassword by anonymous auth by * none',
      `access to * by dn.exact="${AGENT_DN}" write by * read`,
    ].join('\n'),
  });
  await slapd.ldapAdd(
    `dn: ${AGENT_DN}\nobjectClass: person\ncn: agent\nsn: agent\n` +
      `userPassword: ${PASSWORD}\n`,
  );
});
after(() => slapd.stop());

/** A queue whose agent binds as cn=agent; its conduit dumps `env`. */
async function queueWithSecret(t: Parameters<typeof QueueFixture.create>[1]) {
  const queue = await QueueFixture.create(slapd, t, {
    conduits: () =>
      `  Env:\n    command: [/bin/sh, -c, 'env > "$0/env.$$"; echo "$@" >&2; exit 1', ${'FOLDER'}]\n` +
      `    attempts: 1\n    arguments:\n      n: '.*'\n`,
  });
  const secret = path.join(queue.folder, 'agent.secret');
  await writeFile(secret, `${PASSWORD}\n`, { mode: 0o600 });
  const text = (await readFile(queue.configFile, 'utf8'))
    .replace(/bindDN: .*/, `bindDN: ${AGENT_DN}`)
    .replace(/passwordFile: .*/, `passwordFile: ${secret}`)
    .replace('FOLDER', queue.folder);
  await writeFile(queue.configFile, text, { mode: 0o600 });
  await chmod(queue.configFile, 0o600);
  return { queue, secret };
}

describe('secrets', () => {
  test('a configuration or password file open to others is warned about once, with the chmod', async (t) => {
    const { queue, secret } = await queueWithSecret(t);
    await chmod(queue.configFile, 0o644);
    await chmod(secret, 0o620);
    const agent = queue.startAgent(t);
    await agent.waitForOutput('Watching the queue');
    assert.equal(await agent.stop(), 0);
    const warnings = agent.stdout
      .split('\n')
      .filter((line) => line.includes(WARNING));
    assert.equal(warnings.length, 2, agent.stdout);
    assert.match(
      warnings[0] ?? '',
      new RegExp(
        `warn: The configuration file .* file=${queue.configFile} mode=0644 fix="chmod g-wx,o-rwx ${queue.configFile}"`,
      ),
    );
    assert.match(
      warnings[1] ?? '',
      new RegExp(
        `warn: The ldap.passwordFile .* file=${secret} mode=0620 fix="chmod g-wx,o-rwx ${secret}"`,
      ),
    );
  });

  test('owner-only, or group-read, files give no warning', async (t) => {
    const { queue, secret } = await queueWithSecret(t);
    await chmod(secret, 0o640);
    const agent = queue.startAgent(t);
    await agent.waitForOutput('Watching the queue');
    assert.equal(await agent.stop(), 0);
    assert.ok(!agent.stdout.includes(WARNING), agent.stdout);
  });

  test('the password is in no log line, error message or conduit environment', async (t) => {
    const { queue } = await queueWithSecret(t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput('Watching the queue');
    const added = await queue.cli('--add', 'Env', '--args', 'n=1');
    assert.equal(added.code, 0, added.stderr);
    await agent.waitForOutput('Event failed for good');
    assert.equal(await agent.stop(), 0);

    const envs = (await readdir(queue.folder)).filter((name) =>
      name.startsWith('env.'),
    );
    assert.equal(envs.length, 1);
    const env = await readFile(
      path.join(queue.folder, envs[0] as string),
      'utf8',
    );
    assert.match(env, /^PATH=/m);
    const shown = await queue.cli('--failed', '--json');
    // A wrong bind DN with the right password: the error names neither.
    const text = (await readFile(queue.configFile, 'utf8')).replace(
      AGENT_DN,
      'cn=nobody,dc=example,dc=test',
    );
    await writeFile(queue.configFile, text);
    const refused = await queue.cli('--display');
    assert.equal(refused.code, 5);
    assert.match(refused.stderr, /invalid credentials \(49\)/);
    const failedStart = new AgentProcess(queue.configFile);
    t.after(() => failedStart.kill());
    assert.equal(await failedStart.exited, 5);

    for (const [where, content] of [
      ['agent stdout', agent.stdout],
      ['log file', await queue.log()],
      ['conduit environment', env],
      ['--failed --json', shown.stdout + shown.stderr],
      ['CLI error', refused.stdout + refused.stderr],
      ['agent start error', failedStart.stdout],
    ] as const) {
      assert.ok(content.length > 0, `${where} is not empty`);
      assert.ok(!content.includes(PASSWORD), `the password is in the ${where}`);
    }
  });
});
