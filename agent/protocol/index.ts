/**
 * The LDAP protocol module: a small LDAPv3 client that can hold an RFC 4533
 * refreshAndPersist search open, built on @ldapjs/asn1 and @ldapjs/filter
 * without ldapjs itself.
 */

export * from './connection.js';
export * from './controls.js';
export * from './errors.js';
export * from './framer.js';
export * from './operations.js';
export * from './requests.js';
export * from './responses.js';
export * from './result-codes.js';
export * from './starttls.js';
export * from './sync.js';
export * from './transport.js';
