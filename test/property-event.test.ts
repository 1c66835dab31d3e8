/**
 * Properties of the event's canonical form, argument parsing, the limits,
 * and the DN handling of moves between areas, over generated inputs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DN } from '@ldapjs/dn';
import fc from 'fast-check';
import { inArea } from '../agent/areas.js';
import {
  EVENT_LIMITS,
  eventHash,
  formatArguments,
  limitViolation,
  parseArguments,
  sortArguments,
} from '../agent/event.js';

const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/);
/** Any string, including controls, quotes, `=`, astral characters. */
const anyText = fc.string({ unit: 'grapheme', maxLength: 40 });
const args = fc.dictionary(name, anyText, { maxKeys: 8 });
const conduit = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
/** Values within the limits: no control characters. */
const cleanValue = fc
  .string({ unit: 'grapheme', maxLength: 40 })
  .filter(
    (value) =>
      limitViolation({ conduit: 'C', arguments: { a: value } }) === undefined,
  );

describe('the event hash (property)', () => {
  test('does not depend on the order the arguments are given in', () => {
    fc.assert(
      fc.property(conduit, args, (c, a) => {
        const reversed = Object.fromEntries(Object.entries(a).reverse());
        assert.equal(
          eventHash({ conduit: c, arguments: a }),
          eventHash({ conduit: c, arguments: reversed }),
        );
      }),
    );
  });

  test('changes with any change to the conduit, a name or a value', () => {
    fc.assert(
      fc.property(conduit, conduit, args, args, (c1, c2, a1, a2) => {
        const same =
          c1 === c2 &&
          JSON.stringify(sortArguments(Object.entries(a1))) ===
            JSON.stringify(sortArguments(Object.entries(a2)));
        const equal =
          eventHash({ conduit: c1, arguments: a1 }) ===
          eventHash({ conduit: c2, arguments: a2 });
        assert.equal(equal, same);
      }),
    );
  });

  test('cannot be confused by quotes, commas or brackets (JSON ambiguity)', () => {
    fc.assert(
      fc.property(anyText, anyText, anyText, (a, b, c) => {
        // Moving text between the conduit, a value and another value
        // never yields the same canonical form.
        const one = eventHash({ conduit: a + b, arguments: { x: c } });
        const two = eventHash({ conduit: a, arguments: { x: b + c } });
        const three = eventHash({ conduit: a, arguments: { x: b, y: c } });
        if (b !== '') assert.notEqual(one, two);
        assert.notEqual(two, three);
        assert.notEqual(one, three);
      }),
    );
  });
});

describe('argument parsing (property)', () => {
  test('parseArguments gives back what formatArguments wrote, = in values kept', () => {
    fc.assert(
      fc.property(fc.dictionary(name, anyText, { maxKeys: 32 }), (a) => {
        const sorted = sortArguments(Object.entries(a));
        assert.deepEqual(parseArguments(formatArguments(sorted)), sorted);
      }),
    );
  });

  test('a value within the limits passes them; one byte more does not', () => {
    fc.assert(
      fc.property(name, cleanValue, (n, value) => {
        assert.equal(
          limitViolation({ conduit: 'C', arguments: { [n]: value } }),
          undefined,
        );
        const padded =
          value +
          'x'.repeat(EVENT_LIMITS.valueBytes + 1 - Buffer.byteLength(value));
        assert.match(
          limitViolation({ conduit: 'C', arguments: { [n]: padded } }) ?? '',
          /at most 4096/,
        );
      }),
    );
  });
});

/** The value of the first RDN's cn, as @ldapjs/dn parses it. */
function cnOf(dn: string): string {
  const rdn = DN.fromString(dn).rdnAt(0) as unknown as {
    getValue(name: string): string;
  };
  return rdn.getValue('cn');
}

/** RFC 4514 escaping of an attribute value, as a server writes it. */
function escapeValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=#]/g, (c) => `\\${c}`)
    .replace(/^ /, '\\ ')
    .replace(/ $/, '\\ ');
}

describe('moving an entry between areas (property)', () => {
  const base = 'ou=EventQueue,o=Prometheus,dc=example,dc=test';

  test('keeps the RDN exactly as the server wrote it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), (value) => {
        const rdn = `cn=${escapeValue(value)}`;
        const moved = inArea(`${rdn},${base}`, base, 'running');
        assert.equal(moved, `${rdn},ou=Running,${base}`);
      }),
    );
  });

  test('parsing the moved DN with @ldapjs/dn gives the same RDN value as the original', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), (value) => {
        const dn = `cn=${escapeValue(value)},${base}`;
        const before = cnOf(dn);
        const moved = inArea(dn, base, 'failed');
        assert.equal(cnOf(moved), before);
      }),
    );
  });

  test('for an RDN of plain characters, the moved DN names the same value', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,30}[A-Za-z0-9]$/),
        (value) => {
          const moved = inArea(`cn=${value},${base}`, base, 'running');
          assert.equal(cnOf(moved), value);
          assert.ok(moved.endsWith(`,ou=Running,${base}`));
        },
      ),
    );
  });
});
