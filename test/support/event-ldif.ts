/**
 * Adds an event with ldapadd, as a plain LDAP client would, so that a
 * test of the agent does not depend on the CLI.
 */
import type { QueueFixture } from './queue-fixture.js';

let added = 0;

export async function addEvent(
  queue: QueueFixture,
  conduit: string,
  ...args: string[]
): Promise<void> {
  const ldif = [
    `dn: cn=event-${++added}-${process.pid},${queue.base}`,
    'objectClass: prometheusEvent',
    `eventConduit: ${conduit}`,
    ...args.map((arg) => `eventArgument: ${arg}`),
    '',
  ].join('\n');
  await queue.slapd.ldapAdd(ldif);
}
