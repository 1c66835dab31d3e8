/** The part of @ldapjs/dn 1.1.0 that this project uses. */
declare module '@ldapjs/dn' {
  export class DN {
    static fromString(text: string): DN;
    readonly length: number;
    rdnAt(index: number): { toString(): string };
    toString(): string;
  }
}
