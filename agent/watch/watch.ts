/**
 * What every watch mode tells the agent. A watch turns the directory's
 * change notifications into these calls; the agent does not know which
 * protocol produced them.
 */
import type { DirectoryEntry } from '../entry.js';
import type { Logger } from '../log.js';
import type { SearchResultEntry } from '../protocol/responses.js';

export interface WatchListener {
  /** An entry was added or changed, or is present during a refresh. */
  entry(entry: DirectoryEntry): void;
  /** The entry with this identity (as agent/entry.ts reads it) was deleted. */
  deleted(id: string): void;
  /**
   * A refresh is done. `complete` is true when the listener has now been
   * told of every entry in the queue; false when the watch resumed from a
   * cookie and was told only what changed.
   */
  synchronized(complete: boolean): void;
  /**
   * The watch's connection is up, or was lost (told at each failed try
   * until it is up again). For monitoring only.
   */
  watchState?(state: 'up' | 'lost'): void;
}

export interface Watch {
  /** Starts watching; reconnects by itself until stopped. */
  start(): void;
  /** Ends the watch and closes its connection. */
  stop(): Promise<void>;
  /** The queue fits the server's size limit again (see Reconnector). */
  resume?(): void;
}

/** A search result entry as agent/entry.ts reads it: types in lower case. */
export function toDirectoryEntry(event: SearchResultEntry): DirectoryEntry {
  const attributes = new Map<string, Buffer[]>();
  for (const { type, values } of event.attributes) {
    attributes.set(type.toLowerCase(), values);
  }
  return { dn: event.dn, attributes };
}

/**
 * Logs a watch's change of mode: reaching 'persisting' once at info, as
 * operators look for it ("Watching the queue with syncrepl"), the rest at
 * debug.
 */
export function logWatchMode(
  log: Logger,
  mode: string,
  protocol: string,
  queue: string,
): void {
  if (mode === 'persisting') {
    log.info(`Watching the queue with ${protocol}`, { queue });
  } else {
    log.debug('Watch mode', { mode });
  }
}
