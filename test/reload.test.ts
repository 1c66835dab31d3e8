/**
 * SIGHUP reloads the conduits and the log level; an invalid file changes
 * nothing and the agent runs on.
 */
import assert from 'node:assert/strict';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import { addEvent } from './support/event-ldif.js';
import {
  QueueFixture,
  ROLE_EXPANDER,
  WATCHING,
} from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

describe('configuration reload on SIGHUP', () => {
  test('a conduit added to the file runs its events after SIGHUP', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);

    await appendFile(
      queue.configFile,
      `\n  Extra:\n    command: ${queue.recorder}\n` +
        `    arguments:\n      n: '^[0-9]+$'\n`,
    );
    agent.child.kill('SIGHUP');
    await agent.waitForOutput('Configuration reloaded');
    assert.match(agent.stdout, /Configuration reloaded.* added=1 removed=0/);

    await addEvent(queue, 'Extra', 'n=7');
    const [run] = await queue.waitForRuns(1);
    assert.deepEqual(run?.argv, ['--n', '7']);
    await queue.waitUntilEmpty();
    assert.equal(await agent.stop(), 0);
  });

  test('an invalid file is reported and the agent runs on with the old configuration', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    const good = await readFile(queue.configFile, 'utf8');

    await writeFile(queue.configFile, `${good}\n  Bad:\n    timeout: soon\n`);
    agent.child.kill('SIGHUP');
    await agent.waitForOutput('Configuration not reloaded');
    assert.match(agent.stdout, /error: Configuration not reloaded/);
    assert.match(agent.stdout, /conduits\.Bad/);

    await writeFile(queue.configFile, good);
    await addEvent(queue, ROLE_EXPANDER, 'username=juser');
    const [run] = await queue.waitForRuns(1);
    assert.deepEqual(run?.argv, ['--username', 'juser']);
    assert.equal(agent.child.exitCode, null, 'still running');
    assert.equal(await agent.stop(), 0);
  });

  test('a changed ldap setting is reported as needing a restart', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    const text = await readFile(queue.configFile, 'utf8');
    await writeFile(
      queue.configFile,
      text
        .replace('ldap:\n', 'ldap:\n  connectTimeout: 3s\n')
        .replace('logLevel: debug', 'logLevel: info'),
    );
    agent.child.kill('SIGHUP');
    await agent.waitForOutput('apply only when the agent restarts');
    assert.match(agent.stdout, /logLevel=info/);
    assert.match(agent.stdout, /keys=ldap\.connectTimeoutMs/);
    assert.equal(await agent.stop(), 0);
  });
});
