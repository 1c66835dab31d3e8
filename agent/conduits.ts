/**
 * Conduits: the configured commands that events ask to run, and the check
 * that an event asks for something the configuration allows.
 */
import type { ConduitConfig } from './config.js';
import { limitViolation, type EventRequest } from './event.js';

export class RefusedEventError extends Error {
  readonly code = 'EQ_REFUSED';
}

/**
 * Why this event is refused, or undefined if it is allowed: over one of the
 * EVENT_LIMITS (checked first, so that no reason quotes an oversized
 * value), or not allowed by the configuration. The reason is a sentence
 * naming the conduit, argument or value.
 */
export function refusal(
  conduits: ReadonlyMap<string, ConduitConfig>,
  request: EventRequest,
): string | undefined {
  const overLimit = limitViolation(request);
  if (overLimit !== undefined) return overLimit;
  const conduit = conduits.get(request.conduit);
  if (conduit === undefined) {
    const known = [...conduits.keys()].join(', ') || 'none';
    return `Unknown conduit "${request.conduit}" (configured: ${known}).`;
  }
  for (const [name, value] of Object.entries(request.arguments)) {
    const pattern = conduit.arguments.get(name);
    if (pattern === undefined) {
      const accepted = [...conduit.arguments.keys()].join(', ') || 'none';
      return (
        `Conduit ${conduit.name} does not accept argument "${name}" ` +
        `(accepted: ${accepted}).`
      );
    }
    if (!pattern.test(value)) {
      return (
        `Value ${JSON.stringify(value)} of argument "${name}" does not ` +
        `match the pattern ${pattern.source} of conduit ${conduit.name}.`
      );
    }
  }
  return undefined;
}

/** Throws RefusedEventError if the configuration does not allow the event. */
export function checkEvent(
  conduits: ReadonlyMap<string, ConduitConfig>,
  request: EventRequest,
): ConduitConfig {
  const reason = refusal(conduits, request);
  if (reason !== undefined) throw new RefusedEventError(reason);
  return conduits.get(request.conduit) as ConduitConfig;
}

/**
 * The argv of a run: the configured command, then `--name value` for each
 * argument in name order. Values are separate argv elements, never parsed
 * by a shell.
 */
export function conduitArgv(
  conduit: ConduitConfig,
  request: EventRequest,
): string[] {
  const options = Object.entries(request.arguments).flatMap(([name, value]) => [
    `--${name}`,
    value,
  ]);
  return [...conduit.command, ...options];
}
