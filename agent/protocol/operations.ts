/**
 * The outstanding operations of one connection, by messageID, and the
 * rules for which response belongs to which kind of operation.
 */

import { SearchAbandonedError, SearchListenerError } from './errors.js';
import type {
  BindResponse,
  IntermediateResponse,
  LdapResponse,
  SearchResultDone,
  SearchResultEntry,
  SearchResultReference,
} from './responses.js';

/** What a search delivers before its SearchResultDone. */
export type SearchEvent =
  SearchResultEntry | SearchResultReference | IntermediateResponse;

/**
 * Called synchronously for each SearchEvent, in arrival order. If it
 * throws, the search is abandoned and `done` rejects with a
 * SearchListenerError.
 */
export type SearchListener = (event: SearchEvent) => void;

interface Pending<T> {
  resolve: (response: T) => void;
  reject: (error: Error) => void;
}

type Operation =
  | ({ kind: 'bind' } & Pending<BindResponse>)
  | ({ kind: 'search'; listener: SearchListener } & Pending<SearchResultDone>);

/** 'delivered', or why the response was not. */
export type DeliveryOutcome =
  'delivered' | 'unknown messageID' | 'bind operation' | 'search operation';

/** Abandons a search whose listener failed, with that failure. */
export type AbandonSearch = (messageId: number, error: Error) => void;

export class OperationTable {
  readonly #operations = new Map<number, Operation>();

  get size(): number {
    return this.#operations.size;
  }

  addBind(messageId: number, pending: Pending<BindResponse>): void {
    this.#operations.set(messageId, { kind: 'bind', ...pending });
  }

  addSearch(
    messageId: number,
    pending: Pending<SearchResultDone> & { listener: SearchListener },
  ): void {
    this.#operations.set(messageId, { kind: 'search', ...pending });
  }

  deliver(response: LdapResponse, abandon: AbandonSearch): DeliveryOutcome {
    const operation = this.#operations.get(response.messageId);
    if (operation === undefined) return 'unknown messageID';

    switch (operation.kind) {
      case 'bind':
        return this.#deliverToBind(operation, response);
      case 'search':
        return this.#deliverToSearch(operation, response, abandon);
    }
  }

  /**
   * Removes a search and rejects its `done`. False if it had already
   * finished, so there is nothing to abandon on the server.
   */
  abandon(messageId: number, error?: Error): boolean {
    const operation = this.#operations.get(messageId);
    if (operation?.kind !== 'search') return false;

    this.#operations.delete(messageId);
    operation.reject(error ?? abandonedError(messageId));
    return true;
  }

  rejectAll(error: Error): void {
    const operations = [...this.#operations.values()];
    this.#operations.clear();
    for (const operation of operations) operation.reject(error);
  }

  #deliverToBind(
    operation: Pending<BindResponse>,
    response: LdapResponse,
  ): DeliveryOutcome {
    if (response.protocolOp !== 'BindResponse') return 'bind operation';

    this.#operations.delete(response.messageId);
    operation.resolve(response);
    return 'delivered';
  }

  #deliverToSearch(
    operation: Pending<SearchResultDone> & { listener: SearchListener },
    response: LdapResponse,
    abandon: AbandonSearch,
  ): DeliveryOutcome {
    switch (response.protocolOp) {
      case 'SearchResultDone':
        this.#operations.delete(response.messageId);
        operation.resolve(response);
        return 'delivered';
      case 'SearchResultEntry':
      case 'SearchResultReference':
      case 'IntermediateResponse':
        callListener(operation.listener, response, abandon);
        return 'delivered';
      default:
        return 'search operation';
    }
  }
}

function callListener(
  listener: SearchListener,
  event: SearchEvent,
  abandon: AbandonSearch,
): void {
  try {
    listener(event);
  } catch (cause) {
    const error = new SearchListenerError(
      `The listener of search ${event.messageId} threw while handling a ` +
        `${event.protocolOp}; the search was abandoned. Fix the listener ` +
        'or catch its errors.',
      { cause },
    );
    abandon(event.messageId, error);
  }
}

function abandonedError(messageId: number): SearchAbandonedError {
  return new SearchAbandonedError(
    `Search ${messageId} was abandoned by this client before it finished.`,
  );
}
