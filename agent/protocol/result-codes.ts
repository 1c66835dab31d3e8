/**
 * LDAP result codes (RFC 4511 section 4.1.9 and later RFCs). The table only
 * names a code in messages: a code missing from it is still a valid result,
 * and describing it never throws.
 */

export const ResultCode = {
  success: 0,
  protocolError: 2,
  sizeLimitExceeded: 4,
  invalidCredentials: 49,
  busy: 51,
  unavailable: 52,
  unwillingToPerform: 53,
  canceled: 118,
  assertionFailed: 122,
  /** RFC 4533 e-syncRefreshRequired: the cookie is too old to resume. */
  syncRefreshRequired: 4096,
} as const;

const phrases = new Map<number, string>([
  [0, 'success'],
  [1, 'operations error'],
  [2, 'protocol error'],
  [3, 'time limit exceeded'],
  [4, 'size limit exceeded'],
  [5, 'compare false'],
  [6, 'compare true'],
  [7, 'authentication method not supported'],
  [8, 'stronger authentication required'],
  [10, 'referral'],
  [11, 'administrative limit exceeded'],
  [12, 'unavailable critical extension'],
  [13, 'confidentiality required'],
  [14, 'SASL bind in progress'],
  [16, 'no such attribute'],
  [17, 'undefined attribute type'],
  [18, 'inappropriate matching'],
  [19, 'constraint violation'],
  [20, 'attribute or value exists'],
  [21, 'invalid attribute syntax'],
  [32, 'no such object'],
  [33, 'alias problem'],
  [34, 'invalid DN syntax'],
  [36, 'alias dereferencing problem'],
  [48, 'inappropriate authentication'],
  [49, 'invalid credentials'],
  [50, 'insufficient access rights'],
  [51, 'busy'],
  [52, 'unavailable'],
  [53, 'unwilling to perform'],
  [54, 'loop detected'],
  [64, 'naming violation'],
  [65, 'object class violation'],
  [66, 'not allowed on non-leaf'],
  [67, 'not allowed on RDN'],
  [68, 'entry already exists'],
  [69, 'object class modifications prohibited'],
  [71, 'affects multiple DSAs'],
  [80, 'other'],
  [118, 'canceled'],
  [119, 'no such operation'],
  [120, 'too late'],
  [121, 'cannot cancel'],
  [122, 'assertion failed'],
  [4096, 'sync refresh required'],
]);

/**
 * Names a result code for a person: "invalid credentials (49)", or
 * "result code 4711" for a code without a name here.
 */
export function describeResultCode(resultCode: number): string {
  const phrase = phrases.get(resultCode);
  if (phrase === undefined) return `result code ${resultCode}`;
  return `${phrase} (${resultCode})`;
}
