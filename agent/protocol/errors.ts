/**
 * Errors raised by the LDAP protocol module. Each has a stable `code` that
 * callers can switch on; the message is for a person and says what to do.
 */

import { describeResultCode } from './result-codes.js';

export type LdapErrorCode =
  | 'LDAP_URL_INVALID'
  | 'LDAP_FILTER_INVALID'
  | 'LDAP_CONNECT_FAILED'
  | 'LDAP_CONNECTION_LOST'
  | 'LDAP_PROTOCOL_ERROR'
  | 'LDAP_RESULT'
  | 'LDAP_NOTICE_OF_DISCONNECTION'
  | 'LDAP_SEARCH_ABANDONED'
  | 'LDAP_SEARCH_LISTENER_FAILED';

export abstract class LdapError extends Error {
  abstract readonly code: LdapErrorCode;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The server URL cannot be used (wrong scheme, missing host). */
export class LdapUrlError extends LdapError {
  readonly code = 'LDAP_URL_INVALID';
}

/** A search filter cannot be parsed or encoded. */
export class FilterError extends LdapError {
  readonly code = 'LDAP_FILTER_INVALID';
}

/** The TCP or TLS connection could not be opened in time. */
export class ConnectError extends LdapError {
  readonly code = 'LDAP_CONNECT_FAILED';
}

/**
 * The connection ended while an operation was outstanding. Every pending
 * bind and search rejects with this; `cause` holds the reason, if known.
 */
export class ConnectionLostError extends LdapError {
  readonly code = 'LDAP_CONNECTION_LOST';
}

/** The server sent bytes that are not a valid LDAPMessage. */
export class ProtocolError extends LdapError {
  readonly code = 'LDAP_PROTOCOL_ERROR';
}

/** Fields of an LDAPResult that an error needs to carry. */
export interface ResultFields {
  resultCode: number;
  matchedDN: string;
  diagnosticMessage: string;
}

/** An operation completed with a result code other than success. */
export class LdapResultError extends LdapError {
  readonly code: LdapErrorCode = 'LDAP_RESULT';
  readonly resultCode: number;
  readonly matchedDN: string;
  readonly diagnosticMessage: string;

  /**
   * @param context what was attempted, e.g. "Cannot bind to ldap://h as x";
   * the result code and the server's diagnostic are appended.
   */
  constructor(context: string, result: ResultFields, advice = '') {
    super(resultMessage(context, result, advice));
    this.resultCode = result.resultCode;
    this.matchedDN = result.matchedDN;
    this.diagnosticMessage = result.diagnosticMessage;
  }
}

/**
 * The server announced it is closing the connection (RFC 4511 section
 * 4.4.1), for example because it is shutting down.
 */
export class NoticeOfDisconnectionError extends LdapResultError {
  override readonly code = 'LDAP_NOTICE_OF_DISCONNECTION';
}

/** The search was abandoned by this client; `done` will never resolve. */
export class SearchAbandonedError extends LdapError {
  readonly code = 'LDAP_SEARCH_ABANDONED';
}

/**
 * The search listener threw. The search is abandoned so that no further
 * entries are delivered to a listener in an unknown state.
 */
export class SearchListenerError extends LdapError {
  readonly code = 'LDAP_SEARCH_LISTENER_FAILED';
}

function resultMessage(
  context: string,
  result: ResultFields,
  advice: string,
): string {
  const diagnostic = result.diagnosticMessage
    ? ` (server says: ${result.diagnosticMessage})`
    : '';
  const described = describeResultCode(result.resultCode);
  const next = advice ? ` ${advice}` : '';
  return `${context}: ${described}${diagnostic}.${next}`;
}
