/**
 * The suite must catch drivers that break the contract: each case here is a driver with
 * one defect, and the check for it must throw (and a sound driver must pass them all).
 */
import { type BlockDriver, type BlockStatusRun, type DriverImage, ImageFormatError, MemorySource } from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import * as checks from './conformance-checks.js';

interface Defects {
  probeScore?: number;
  /** Byte that reads wrong. */
  wrongByteAt?: number;
  /** Reports the first data unit as a hole. */
  hideData?: boolean;
  /** Leaves out the last unit of every block status answer. */
  shortStatus?: boolean;
  /** Reads through one shared scratch buffer without a lock. */
  sharedScratch?: boolean;
  /** Claims a virtual size one unit short. */
  shortSize?: boolean;
  /** Reports every data run's file offset this much too far. */
  fileOffsetShift?: number;
  /** Trusts its header: a bad magic byte becomes a TypeError instead of an ImageFormatError. */
  trustsHeader?: boolean;
}

const ALIGN = 512;
const SIZE = 64 * ALIGN;
/** Data in units 3..9 and 40..41, zeros elsewhere. */
const DISK = new Uint8Array(SIZE);
for (const [from, to] of [
  [3, 10],
  [40, 42],
]) {
  for (let i = (from as number) * ALIGN; i < (to as number) * ALIGN; i++) DISK[i] = ((i * 13) % 255) + 1;
}

function memoryDriver(defects: Defects = {}): BlockDriver {
  const scratch = new Uint8Array(SIZE);
  return {
    name: 'memory',
    probe: () => defects.probeScore ?? 50,
    async open(source): Promise<DriverImage> {
      // The "file" is the disk itself, whose first byte (always 0) is its magic.
      const magic = new Uint8Array(1);
      await source.read(magic, 0);
      if (magic[0] !== 0) {
        if (defects.trustsHeader) (undefined as unknown as { version: number }).version;
        throw new ImageFormatError('Image not in memory format');
      }
      return {
        virtualSize: defects.shortSize ? SIZE - ALIGN : SIZE,
        requestAlignment: ALIGN,
        async readv(offset, buffers) {
          let at = offset;
          for (const buffer of buffers) {
            if (defects.sharedScratch) {
              scratch.set(DISK.subarray(at, at + buffer.length));
              await new Promise((resolve) => setImmediate(resolve));
              buffer.set(scratch.subarray(0, buffer.length));
            } else {
              buffer.set(DISK.subarray(at, at + buffer.length));
            }
            if (
              defects.wrongByteAt !== undefined &&
              defects.wrongByteAt >= at &&
              defects.wrongByteAt < at + buffer.length
            ) {
              buffer[defects.wrongByteAt - at] ^= 1;
            }
            at += buffer.length;
          }
        },
        async close() {},
      };
    },
    async blockStatus(_image, offset, length) {
      const runs: BlockStatusRun[] = [];
      const end = defects.shortStatus ? offset + length - ALIGN : offset + length;
      for (let at = offset; at < end; at += ALIGN) {
        const unit = at / ALIGN;
        const data = ((unit >= 3 && unit < 10) || (unit >= 40 && unit < 42)) && !(defects.hideData && unit === 3);
        runs.push(
          data
            ? { offset: at, length: ALIGN, data, fileOffset: at + (defects.fileOffsetShift ?? 0) }
            : { offset: at, length: ALIGN, data },
        );
      }
      return runs;
    },
  };
}

const context = (defects?: Defects): checks.CheckContext => ({
  driver: memoryDriver(defects),
  makeImage: () => ({ source: new MemorySource(DISK.slice()), expected: DISK }),
  numRuns: 100,
  maxReadLength: 8 * ALIGN,
  seed: 1,
});

describe('the conformance checks', () => {
  it('pass a sound driver', async () => {
    for (const [name, check] of Object.entries(checks)) {
      await expect(check(context()), name).resolves.toBeUndefined();
    }
  });

  it.each([
    ['a probe score above 100', { probeScore: 101 }, checks.checkProbeOwnImage],
    ['a probe of 0 for its own image', { probeScore: 0 }, checks.checkProbeOwnImage],
    ['a fractional probe score', { probeScore: 1.5 }, checks.checkProbeRange],
    ['a wrong virtual size', { shortSize: true }, checks.checkOpen],
    ['a wrong byte, in a whole read', { wrongByteAt: 1700 }, checks.checkReadWhole],
    ['a wrong byte, in random reads', { wrongByteAt: 5000 }, checks.checkReadAnywhere],
    ['a wrong byte, in scattered readv', { wrongByteAt: 5000 }, checks.checkScatterRead],
    ['reads that interfere when concurrent', { sharedScratch: true }, checks.checkConcurrentReads],
    ['block status that leaves part of the range out', { shortStatus: true }, checks.checkBlockStatusCovers],
    ['a map that calls data a hole', { hideData: true }, checks.checkMapMatchesRead],
    ['a map whose file offsets are 12345 bytes off', { fileOffsetShift: 12345 }, checks.checkFileOffsets],
    ['a TypeError on a corrupt header', { trustsHeader: true }, checks.checkCorruptInput],
  ] as const)('catch %s', async (_title, defects: Defects, check) => {
    await expect(check(context(defects))).rejects.toThrow();
  });
});
