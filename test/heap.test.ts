/**
 * The heap behind the scheduler's run order gives items back least first.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Heap } from '../agent/heap.js';

describe('Heap', () => {
  test('pops any sequence of pushes in sorted order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), (values) => {
        const heap = new Heap<number>((a, b) => a - b);
        for (const value of values) heap.push(value);
        const popped: number[] = [];
        for (let item = heap.pop(); item !== undefined; item = heap.pop()) {
          popped.push(item);
        }
        assert.deepEqual(
          popped,
          [...values].sort((a, b) => a - b),
        );
      }),
    );
  });

  test('interleaved pushes and pops always return the least', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.integer(), { nil: undefined })),
        (steps) => {
          const heap = new Heap<number>((a, b) => a - b);
          const model: number[] = [];
          for (const step of steps) {
            if (step === undefined) {
              model.sort((a, b) => a - b);
              assert.equal(heap.pop(), model.shift());
            } else {
              heap.push(step);
              model.push(step);
            }
            assert.equal(heap.size, model.length);
          }
        },
      ),
    );
  });
});
