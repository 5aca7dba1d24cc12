import type { BlockDriver } from '@vdisk/core';
import { describe, it } from 'vitest';
import * as checks from './conformance-checks.js';
import type { MakeImage } from './conformance-image.js';
import * as writeChecks from './write-checks.js';

export interface DriverConformanceOptions {
  /** Names the test group, e.g. `bochs (v1 image with holes)`. */
  name: string;
  /** The driver under test: a plain instance, or one taken from a registry. */
  driver: BlockDriver;
  /** Makes a fresh image each time it is called; its `expected` bytes must not come from the driver. */
  makeImage: MakeImage;
  /** fast-check runs per property. Default 40. */
  numRuns?: number;
  /** The longest read the random checks make. Default 64 KiB. */
  maxReadLength?: number;
  /** fast-check's seed, to replay a failure it reported. */
  seed?: number;
  /** Per-test timeout in milliseconds. Default 30 s. */
  timeout?: number;
}

/**
 * Defines the block driver conformance tests (vitest) for one driver on one image: probe,
 * open, read, alignment, bounds, concurrency, a map consistent with read and with the
 * file, and only typed errors on corrupt input; and for a driver with `write`, writes at
 * any alignment, concurrent writes, zeroes, discard, flush and bounds, against a model of
 * the disk. Call it at the top level of a test file, once per image worth testing; for a
 * writable driver, `makeImage` gives writable sources.
 */
export function runDriverConformance(options: DriverConformanceOptions): void {
  const context: checks.CheckContext = {
    driver: options.driver,
    makeImage: options.makeImage,
    numRuns: options.numRuns ?? 40,
    maxReadLength: options.maxReadLength ?? 64 * 1024,
    seed: options.seed,
  };
  const timeout = options.timeout ?? 30_000;
  const test = (title: string, check: (context: checks.CheckContext) => Promise<void>) =>
    it(title, () => check(context), timeout);

  describe(`${options.name}: block driver conformance`, () => {
    test('probe scores its own image from 1 to 100', checks.checkProbeOwnImage);
    test('probe scores any bytes from 0 to 100', checks.checkProbeRange);
    test('opens read-only with the expected virtual size, a multiple of its alignment', checks.checkOpen);
    test('reads the whole disk', checks.checkReadWhole);
    test('fills several buffers of one readv in order', checks.checkScatterRead);
    test('reads at any offset and length, and receives only aligned in-range requests', checks.checkReadAnywhere);
    test('rejects reads beyond the disk before they reach the driver', checks.checkOutOfRange);
    test('returns for concurrent reads what sequential reads return', checks.checkConcurrentReads);
    // A driver without blockStatus is reported as all data by core: nothing of its own to check.
    it.skipIf(!options.driver.blockStatus)(
      'reports block status runs that cover each range in order',
      () => checks.checkBlockStatusCovers(context),
      timeout,
    );
    test('has a map consistent with read: data runs plus zeros rebuild the disk', checks.checkMapMatchesRead);
    test("has a map whose file offsets hold the runs' bytes", checks.checkFileOffsets);
    test('gives only VdiskErrors on corrupt copies of the image (cut short, bits flipped)', checks.checkCorruptInput);
    test('closes', checks.checkClose);
    test('opened read-only, refuses writes and never writes to its source', writeChecks.checkReadOnlyOpen);
    const writable = (title: string, check: (context: checks.CheckContext) => Promise<void>) =>
      it.skipIf(!options.driver.write)(title, () => check(context), timeout);
    writable('reads back writes at any offset, length and alignment', writeChecks.checkWriteAnywhere);
    writable(
      'lands concurrent writes to disjoint bytes, two unaligned ones into one unit too',
      writeChecks.checkConcurrentWrites,
    );
    writable('reads zeros where writeZeroes was, and nothing else changes', writeChecks.checkWriteZeroes);
    writable('reads zeros where discard was, and nothing else changes', writeChecks.checkDiscard);
    writable('flushes, and keeps its writes when closed and reopened', writeChecks.checkFlush);
    writable('refuses writes beyond the disk before they reach the driver', writeChecks.checkWriteOutOfRange);
  });
}
