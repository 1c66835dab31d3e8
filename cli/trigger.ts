/**
 * --trigger: one name in the configuration's `triggers:` that stands for
 * several conduits, each given an event of its own.
 *
 * Each conduit gets the subset of the arguments that it accepts, so one
 * trigger can feed a conduit that takes `username` and one that takes
 * nothing. An argument that no conduit of the trigger accepts is refused,
 * as is a value that fails a conduit's pattern, before anything is added.
 * A conduit that takes arguments but none of those given gets an event
 * without arguments, which is a full run; {@link fullRuns} names them so
 * that the CLI can say so.
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

/**
 * Notes on the trigger's events that carry no arguments although arguments
 * were given and their conduit takes some: each runs in full, not narrowed.
 */
export function fullRuns(
  config: Config,
  requests: readonly EventRequest[],
  args: EventArguments,
): string[] {
  if (Object.keys(args).length === 0) return [];
  return requests.flatMap((request) => {
    const accepted = config.conduits.get(request.conduit)?.arguments;
    if (Object.keys(request.arguments).length > 0) return [];
    if (accepted === undefined || accepted.size === 0) return [];
    return [
      `Note: ${request.conduit} takes none of the arguments given (it ` +
        `takes ${[...accepted.keys()].join(', ')}); its event has no ` +
        'arguments and runs in full.',
    ];
  });
}
