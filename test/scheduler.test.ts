/**
 * The scheduler runs one event at a time in creation order, one turn
 * queued at a time however large the backlog, and before start() runs
 * only an event proved to be the earliest.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { QueuedEvent } from '../agent/entry.js';
import { Scheduler, type Execution } from '../agent/scheduler.js';

const DONE: Execution = { outcome: { kind: 'done' }, coveredRemoved: true };

function event(seq: number, args: Record<string, string> = { seq: `${seq}` }) {
  const created = new Date(Date.UTC(2026, 0, 1, 0, 0, seq));
  return {
    conduit: 'Test::Conduit',
    arguments: args,
    dn: `cn=ev-${seq},ou=Queue`,
    hash: `hash-${seq}`,
    id: `id-${seq}`,
    created,
    csn: `2026010100000${seq}.000000Z#000000#000#000000`,
    creator: undefined,
    attempts: 0,
    notBefore: undefined,
    lastError: undefined,
    claimedBy: undefined,
    claimExpires: undefined,
    modified: created,
  } satisfies QueuedEvent;
}

function recording(coalesce = false) {
  const ran: string[] = [];
  const covered: string[][] = [];
  let running = 0;
  const scheduler = new Scheduler(
    async (chosen, cover) => {
      running++;
      assert.equal(running, 1, 'two events ran at once');
      ran.push(chosen.id);
      covered.push(cover.map((each) => each.id));
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return DONE;
    },
    () => coalesce,
  );
  return { scheduler, ran, covered };
}

describe('Scheduler', () => {
  test('a backlog offered out of order runs in creation order, once each', async () => {
    const { scheduler, ran } = recording();
    const order = [5, 1, 4, 0, 3, 2];
    for (const seq of order) scheduler.offer(event(seq));
    for (const seq of order) scheduler.offer(event(seq));
    assert.equal(scheduler.pendingCount, 6);
    scheduler.start();
    await scheduler.idle();
    assert.deepEqual(
      ran,
      [0, 1, 2, 3, 4, 5].map((seq) => `id-${seq}`),
    );
    assert.equal(scheduler.pendingCount, 0);
  });

  test('events offered while one runs then run in creation order', async () => {
    const ran: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const scheduler = new Scheduler(
      async (chosen) => {
        ran.push(chosen.id);
        await gate;
        return DONE;
      },
      () => false,
    );
    scheduler.start();
    scheduler.offer(event(3));
    for (const seq of [1, 2, 0]) scheduler.offer(event(seq));
    release();
    await scheduler.idle();
    assert.deepEqual(ran, ['id-3', 'id-0', 'id-1', 'id-2']);
  });

  test('before start, runAhead runs only the event that is the earliest', async () => {
    const { scheduler, ran } = recording();
    scheduler.offer(event(2));
    scheduler.offer(event(1));
    await scheduler.runAhead(event(2));
    assert.deepEqual(ran, [], 'a later event ran ahead');
    assert.equal(scheduler.earliest()?.id, 'id-1');
    await scheduler.runAhead(event(1));
    assert.deepEqual(ran, ['id-1']);
    assert.equal(scheduler.started, false);
    scheduler.start();
    await scheduler.idle();
    assert.deepEqual(ran, ['id-1', 'id-2']);
  });

  test('idle() before start waits for the start when events are pending', async () => {
    const { scheduler, ran } = recording();
    scheduler.offer(event(0));
    let idle = false;
    const waiting = scheduler.idle().then(() => (idle = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(idle, false);
    scheduler.start();
    await waiting;
    assert.deepEqual(ran, ['id-0']);
  });

  test('a run without arguments covers earlier pending runs with them', async () => {
    const { scheduler, ran, covered } = recording(true);
    scheduler.offer(event(0));
    scheduler.offer(event(1));
    scheduler.offer(event(2, {}));
    scheduler.offer(event(3));
    scheduler.start();
    await scheduler.idle();
    assert.deepEqual(ran, ['id-2', 'id-3']);
    assert.deepEqual(covered[0], ['id-0', 'id-1']);
  });

  test('an entry read again with the same entryCSN is unchanged', () => {
    const { scheduler } = recording();
    const first = event(0);
    scheduler.offer(first);
    assert.equal(scheduler.unchanged('id-0', first.csn), true);
    assert.equal(scheduler.unchanged('id-0', 'another'), false);
    assert.equal(scheduler.unchanged('id-0', undefined), false);
    assert.equal(scheduler.unchanged('id-9', first.csn), false);
  });
});
