/**
 * The parts of @ldapjs/asn1 2.0.0 that this project uses. The package ships
 * no declarations. It is CommonJS, so it is imported as a default import.
 */
declare module '@ldapjs/asn1' {
  namespace asn1 {
    class BerReader {
      constructor(buffer: Buffer);
      readonly buffer: Buffer;
      /** The length of the field whose header was read last. */
      readonly length: number;
      readonly offset: number;
      readonly remain: number;
      peek(): number | null;
      readByte(peek?: boolean): number | null;
      readBoolean(tag?: number): boolean;
      readEnumeration(): number;
      readInt(tag?: number): number;
      readLength(offset?: number): number | null;
      readOID(tag?: number): string | null;
      readRawBuffer(tag: number, advanceOffset?: boolean): Buffer | null;
      readSequence(tag?: number): number | null;
      readString(tag?: number, asBuffer?: false): string | null;
      readString(tag: number, asBuffer: true): Buffer | null;
      /** The value bytes of the next field; leaves the offset at them. */
      readTag(tag: number): Buffer | null;
      setOffset(position: number): void;
    }

    class BerWriter {
      constructor(options?: { size?: number; growthFactor?: number });
      readonly buffer: Buffer;
      readonly size: number;
      appendBuffer(buffer: Buffer): void;
      endSequence(): void;
      startSequence(tag?: number): void;
      writeBoolean(value: boolean, tag?: number): void;
      writeBuffer(buffer: Buffer, tag: number): void;
      writeByte(byte: number): void;
      writeEnumeration(value: number, tag?: number): void;
      writeInt(value: number, tag?: number): void;
      writeLength(length: number): void;
      writeNull(): void;
      writeOID(oid: string, tag?: number): void;
      writeString(value: string, tag?: number): void;
      writeStringArray(values: string[]): void;
    }

    const BerTypes: {
      readonly Boolean: 0x01;
      readonly Integer: 0x02;
      readonly OctetString: 0x04;
      readonly Null: 0x05;
      readonly Enumeration: 0x0a;
      readonly Sequence: 0x10;
      readonly Set: 0x11;
      readonly Constructor: 0x20;
      readonly LDAPSequence: 0x30;
      readonly Context: 0x80;
    };
  }

  export = asn1;
}
