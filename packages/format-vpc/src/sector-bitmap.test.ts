import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bitmapSpan, bitRuns, setBits, testBit } from './sector-bitmap.js';

/** The spec's bit order, one bit at a time: sector n is bit 7 - n % 8 of byte n / 8. */
function bitOf(bytes: Uint8Array, n: number): boolean {
  return (((bytes[Math.floor(n / 8)] as number) >> (7 - (n % 8))) & 1) === 1;
}

describe('sector bitmap', () => {
  it('counts the top bit of byte 0 as sector 0', () => {
    const bytes = new Uint8Array([0x80, 0x01]);
    expect(testBit(bytes, 0)).toBe(true);
    expect(testBit(bytes, 1)).toBe(false);
    expect(testBit(bytes, 15)).toBe(true);
    expect(bitRuns(bytes, 0, 16)).toEqual([
      { set: true, start: 0, count: 1 },
      { set: false, start: 1, count: 14 },
      { set: true, start: 15, count: 1 },
    ]);
    expect(bitmapSpan(9, 7)).toEqual({ byte: 1, length: 1 });
    expect(bitmapSpan(7, 2)).toEqual({ byte: 0, length: 2 });
  });

  it('gives runs that cover the range in order, each of equal bits, as the bits are', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const bits = bytes.length * 8;
        const start = a % bits;
        const count = b % (bits - start + 1);
        const runs = bitRuns(bytes, start, count);
        let next = start;
        for (const [i, run] of runs.entries()) {
          expect(run.start).toBe(next);
          expect(run.count).toBeGreaterThan(0);
          if (i > 0) expect(run.set).not.toBe(runs[i - 1]?.set);
          for (let n = run.start; n < run.start + run.count; n++) expect(bitOf(bytes, n)).toBe(run.set);
          next += run.count;
        }
        expect(next).toBe(start + count);
      }),
    );
  });

  it('sets exactly the bits asked for, and says whether one was clear', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const bits = bytes.length * 8;
        const start = a % bits;
        const count = b % (bits - start + 1);
        const copy = bytes.slice();
        let wasClear = false;
        for (let n = start; n < start + count; n++) if (!bitOf(bytes, n)) wasClear = true;
        expect(setBits(copy, start, count)).toBe(wasClear);
        for (let n = 0; n < bits; n++)
          expect(bitOf(copy, n)).toBe(n >= start && n < start + count ? true : bitOf(bytes, n));
      }),
    );
  });
});
