/**
 * The write checks must catch drivers that break the contract: each case here is a
 * writable driver with one defect, and the check for it must throw (and a sound driver
 * must pass them all).
 */
import {
  type BlockDriver,
  type ByteSource,
  type DriverImage,
  MemorySource,
  readSource,
  writeSource,
} from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import type { CheckContext } from './conformance-checks.js';
import * as checks from './write-checks.js';

interface Defects {
  /** Drops the last buffer of every write (a lost tail). */
  dropLastBuffer?: boolean;
  /** Writes through one shared scratch buffer without a lock. */
  racyWrite?: boolean;
  /** Keeps writes in memory only: the source never sees them. */
  memoryOnly?: boolean;
  /** zero that does nothing. */
  zeroIgnored?: boolean;
  /** discard that does nothing. */
  discardIgnored?: boolean;
  /** flush that fails. */
  flushFails?: boolean;
  /** Claims a virtual size one unit too large. */
  longSize?: boolean;
  /** Stamps a byte of the source at every open, even read-only. */
  stampsAtOpen?: boolean;
}

const ALIGN = 512;
const SIZE = 64 * ALIGN;
const DISK = Uint8Array.from({ length: SIZE }, (_, i) => ((i * 13) % 255) + 1);

interface MemoryImage extends DriverImage {
  source: ByteSource;
  overlay: Map<number, number>;
}

/** The disk is the source's bytes, with ALIGN-sized units, as raw would be. */
function memoryDriver(defects: Defects = {}): BlockDriver<MemoryImage> {
  const scratch = new Uint8Array(SIZE);
  return {
    name: 'memory',
    probe: () => 50,
    async open(source): Promise<MemoryImage> {
      if (defects.stampsAtOpen) await source.write?.(Uint8Array.of(1), 0);
      const overlay = new Map<number, number>();
      return {
        source,
        overlay,
        virtualSize: defects.longSize ? SIZE + ALIGN : SIZE,
        requestAlignment: ALIGN,
        async readv(offset, buffers) {
          await readSource(source, buffers, offset);
          let at = offset;
          for (const buffer of buffers) {
            for (let i = 0; i < buffer.length; i++) {
              const byte = overlay.get(at + i);
              if (byte !== undefined) buffer[i] = byte;
            }
            at += buffer.length;
          }
        },
        async close() {},
      };
    },
    async write(image, offset, buffers) {
      const kept = defects.dropLastBuffer && buffers.length > 1 ? buffers.slice(0, -1) : buffers;
      if (defects.memoryOnly) {
        let at = offset;
        for (const buffer of kept) for (const byte of buffer) image.overlay.set(at++, byte);
        return;
      }
      if (defects.racyWrite) {
        let at = offset;
        for (const buffer of kept) {
          scratch.set(buffer);
          await new Promise((resolve) => setImmediate(resolve));
          await writeSource(image.source, [scratch.slice(0, buffer.length)], at);
          at += buffer.length;
        }
        return;
      }
      await writeSource(image.source, kept, offset);
    },
    async zero(image, offset, length) {
      if (defects.zeroIgnored) return;
      await writeSource(image.source, [new Uint8Array(length)], offset);
    },
    async discard(image, offset, length) {
      if (defects.discardIgnored) return;
      await writeSource(image.source, [new Uint8Array(length)], offset);
    },
    async flush(image) {
      if (defects.flushFails) throw new Error('flush failed');
      await image.source.flush?.();
    },
  };
}

const context = (defects?: Defects): CheckContext => {
  return {
    driver: memoryDriver(defects) as unknown as BlockDriver,
    makeImage: () => {
      const source = new MemorySource(DISK.slice());
      return { source, expected: DISK, reopen: () => new MemorySource(source.bytes) };
    },
    numRuns: 60,
    maxReadLength: 8 * ALIGN,
    seed: 1,
  };
};

describe('the write checks', () => {
  it('pass a sound driver', async () => {
    for (const [name, check] of Object.entries(checks)) {
      await expect(check(context()), name).resolves.toBeUndefined();
    }
  });

  it('pass a driver without write: there is nothing to check but the read-only open', async () => {
    const { write: _write, ...readOnly } = memoryDriver();
    for (const [name, check] of Object.entries(checks)) {
      await expect(check({ ...context(), driver: readOnly as unknown as BlockDriver }), name).resolves.toBeUndefined();
    }
  });

  it.each([
    ['writes that lose their tail', { dropLastBuffer: true }, checks.checkWriteAnywhere],
    ['writes that interfere when concurrent', { racyWrite: true }, checks.checkConcurrentWrites],
    ['a writeZeroes that leaves the data', { zeroIgnored: true }, checks.checkWriteZeroes],
    ['a discard that leaves the data', { discardIgnored: true }, checks.checkDiscard],
    ['a flush that fails', { flushFails: true }, checks.checkFlush],
    ['writes kept in memory only, lost at reopen', { memoryOnly: true }, checks.checkFlush],
    ['a virtual size that takes writes beyond the disk', { longSize: true }, checks.checkWriteOutOfRange],
    ['a driver that writes to its source when opened read-only', { stampsAtOpen: true }, checks.checkReadOnlyOpen],
  ] as const)('catch %s', async (_title, defects: Defects, check) => {
    await expect(check(context(defects))).rejects.toThrow();
  });
});
