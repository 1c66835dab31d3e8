/**
 * The parts of @ldapjs/filter 2.1.1 that this project uses. The package
 * ships no declarations. It is CommonJS, so it is imported as a default
 * import.
 */
declare module '@ldapjs/filter' {
  import type { BerReader } from '@ldapjs/asn1';

  namespace filter {
    interface Filter {
      /** A reader over the whole encoded Filter (tag, length, value). */
      toBer(): BerReader;
      toString(): string;
    }

    /** Parses an RFC 4515 filter string; throws on a malformed one. */
    function parseString(text: string): Filter;
  }

  export = filter;
}
