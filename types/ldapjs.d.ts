/**
 * The part of ldapjs 3.0.7 that this project uses. The package ships no
 * declarations and `@types/ldapjs` describes version 2.
 */
declare module 'ldapjs' {
  import { EventEmitter } from 'node:events';

  export interface ClientOptions {
    url: string | string[];
    connectTimeout?: number;
    timeout?: number;
    tlsOptions?: import('node:tls').ConnectionOptions;
    reconnect?: boolean;
  }

  export interface Attribute {
    readonly type: string;
    readonly values: string[];
    readonly buffers: Buffer[];
  }

  export interface SearchEntry {
    readonly objectName: { toString(): string };
    readonly attributes: Attribute[];
  }

  export interface LdapResult {
    readonly status: number;
    readonly errorMessage?: string;
  }

  export interface SearchResponse extends EventEmitter {
    on(event: 'searchEntry', listener: (entry: SearchEntry) => void): this;
    on(event: 'searchReference', listener: (ref: unknown) => void): this;
    on(event: 'error', listener: (error: LdapError) => void): this;
    on(event: 'end', listener: (result: LdapResult | null) => void): this;
    on(event: 'page', listener: (result: LdapResult) => void): this;
  }

  export interface SearchOptions {
    scope?: 'base' | 'one' | 'sub';
    filter?: string;
    attributes?: string[];
    sizeLimit?: number;
    timeLimit?: number;
    paged?: boolean | { pageSize?: number; pagePause?: boolean };
  }

  export type Callback<T = void> = (error: LdapError | null, result: T) => void;

  export interface Client extends EventEmitter {
    connected: boolean;
    bind(dn: string, password: string, callback: Callback): void;
    /** Options go to tls.connect with the socket; controls may be []. */
    starttls(
      options: import('node:tls').ConnectionOptions,
      controls: unknown[],
      callback: (error: LdapError | null) => void,
    ): void;
    add(
      dn: string,
      entry: Record<string, string | string[]>,
      callback: Callback,
    ): void;
    del(dn: string, callback: Callback): void;
    modify(dn: string, changes: Change[], callback: Callback): void;
    modifyDN(dn: string, newDN: string, callback: Callback): void;
    search(
      base: string,
      options: SearchOptions,
      callback: Callback<SearchResponse>,
    ): void;
    unbind(callback?: Callback): void;
    destroy(error?: Error): void;
  }

  export class LdapError extends Error {
    readonly code: number;
    readonly lde_message?: string;
  }

  export class Change {
    constructor(options: {
      operation: string;
      modification: { type: string; values: readonly string[] };
    });
  }

  export function createClient(options: ClientOptions): Client;

  const ldap: {
    createClient: typeof createClient;
    Change: typeof Change;
  };
  export default ldap;
}
