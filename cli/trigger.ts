/**
 * --trigger: one name in the configuration's `triggers:` that stands for
 * several conduits, each given an event of its own.
 *
 * Each conduit gets the subset of the arguments that it accepts, so one
 * trigger can feed a conduit that takes `username` and one that takes
 * nothing. An argument that no conduit of the trigger accepts is refused,
 * as is a value that fails a conduit's pattern, before anything is added.
 */
import { checkEvent, RefusedEventError } from '../agent/conduits.js';
import type { Config } from '../agent/config.js';
import {
  checkLimits,
  type EventArguments,
  type EventRequest,
} from '../agent/event.js';

/** The events a trigger adds, each checked against its conduit. */
export function triggerRequests(
  config: Config,
  trigger: string,
  args: EventArguments,
): EventRequest[] {
  const conduits = config.triggers.get(trigger);
  if (conduits === undefined) {
    const known = [...config.triggers.keys()].join(', ') || 'none';
    throw new RefusedEventError(
      `Unknown trigger "${trigger}" (configured: ${known}).`,
    );
  }
  refuseUnused(config, trigger, conduits, args);
  return conduits.map((name) => {
    const request = {
      conduit: name,
      arguments: acceptedBy(config, name, args),
    };
    checkLimits(request);
    checkEvent(config.conduits, request);
    return request;
  });
}

function acceptedBy(
  config: Config,
  conduit: string,
  args: EventArguments,
): EventArguments {
  const accepted = config.conduits.get(conduit)?.arguments;
  return Object.fromEntries(
    Object.entries(args).filter(([name]) => accepted?.has(name) === true),
  );
}

function refuseUnused(
  config: Config,
  trigger: string,
  conduits: readonly string[],
  args: EventArguments,
): void {
  for (const name of Object.keys(args)) {
    const used = conduits.some((conduit) =>
      config.conduits.get(conduit)?.arguments.has(name),
    );
    if (used) continue;
    throw new RefusedEventError(
      `No conduit of trigger ${trigger} (${conduits.join(', ')}) accepts ` +
        `argument "${name}".`,
    );
  }
}
