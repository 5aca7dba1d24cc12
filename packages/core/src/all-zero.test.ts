import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAllZero, ZeroScan } from './all-zero.js';

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

describe('ZeroScan', () => {
  it('answers any range of any view as a byte-by-byte check does (property)', () => {
    const backing = new Uint8Array(256);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 0, max: 180 }),
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 }),
        fc.integer({ min: 0, max: 180 }),
        fc.integer({ min: 0, max: 180 }),
        (start, length, setAt, a, b) => {
          backing.fill(0);
          for (const at of setAt) backing[at] = 1 + (at % 255);
          const view = backing.subarray(start, start + length);
          const from = Math.min(a, b, view.length);
          const to = Math.min(Math.max(a, b), view.length);
          const scan = new ZeroScan(view);
          expect(scan.isZero(from, to)).toBe(view.subarray(from, to).every((byte) => byte === 0));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
