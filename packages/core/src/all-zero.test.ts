import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAllZero } from './all-zero.js';

describe('isAllZero', () => {
  it('agrees with a byte-by-byte check at any view offset and length, wherever the one set byte is (property)', () => {
    const backing = new Uint8Array(256);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 0, max: 180 }),
        fc.option(fc.integer({ min: 0, max: 255 })),
        fc.integer({ min: 1, max: 255 }),
        (start, length, setAt, value) => {
          backing.fill(0);
          if (setAt !== null) backing[setAt] = value;
          const view = backing.subarray(start, start + length);
          expect(isAllZero(view)).toBe(view.every((b) => b === 0));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('calls a high bit alone data (no float view that takes -0 for 0)', () => {
    const bytes = new Uint8Array(16);
    bytes[7] = 0x80;
    expect(isAllZero(bytes)).toBe(false);
    expect(isAllZero(new Uint8Array(0))).toBe(true);
  });
});
