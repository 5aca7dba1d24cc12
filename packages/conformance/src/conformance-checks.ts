import {
  allocationMap,
  BlockDevice,
  type BlockDriver,
  type BlockStatusRun,
  type ByteSource,
  hasErrorCode,
  isVdiskError,
  MemorySource,
  PROBE_SIZE,
  type ProbeContext,
} from '@vdisk/core';
import fc from 'fast-check';
import { assertBytesEqual } from './bytes-equal.js';
import { type CheckedDevice, openChecked } from './checked-device.js';
import type { MakeImage } from './conformance-image.js';

/**
 * The block driver contract as checks: each one opens a fresh image, exercises the driver
 * and throws an Error that says what broke. `runDriverConformance` turns them into tests;
 * they need no test runner themselves.
 */
export interface CheckContext {
  driver: BlockDriver;
  makeImage: MakeImage;
  /** fast-check runs per property. */
  numRuns: number;
  /** The longest read the random checks make. */
  maxReadLength: number;
  /** fast-check's seed, to replay a failure. */
  seed?: number;
}

function fail(message: string): never {
  throw new Error(message);
}

async function withDevice<T>(context: CheckContext, fn: (checked: CheckedDevice, expected: Uint8Array) => Promise<T>) {
  const made = await context.makeImage();
  const checked = await openChecked(context.driver, made);
  try {
    const result = await fn(checked, made.expected);
    if (checked.violations.length > 0) fail(`Requests that broke the contract: ${checked.violations.join('; ')}`);
    return result;
  } finally {
    await checked.device.close();
  }
}

/** A range of the disk: any offset, any length up to `max`, inside `size`. */
function rangeIn(size: number, max: number): fc.Arbitrary<{ offset: number; length: number }> {
  return fc
    .integer({ min: 0, max: size })
    .chain((offset) => fc.integer({ min: 0, max: Math.min(size - offset, max) }).map((length) => ({ offset, length })));
}

const fcParams = (context: CheckContext) => ({ numRuns: context.numRuns, seed: context.seed });

export async function checkProbeOwnImage(context: CheckContext): Promise<void> {
  const made = await context.makeImage();
  try {
    const sector = new Uint8Array(PROBE_SIZE);
    const first = new Uint8Array(Math.min(PROBE_SIZE, made.source.size));
    await made.source.read(first, 0);
    sector.set(first);
    const probeContext: ProbeContext = { fileSize: made.source.size };
    if (made.filename !== undefined) probeContext.filename = made.filename;
    if (made.source.size >= PROBE_SIZE) {
      probeContext.lastSector = new Uint8Array(PROBE_SIZE);
      await made.source.read(probeContext.lastSector, made.source.size - PROBE_SIZE);
    }
    const score = context.driver.probe(sector, probeContext);
    if (!Number.isInteger(score) || score < 1 || score > 100) {
      fail(`probe of its own image scored ${score}, expected an integer from 1 to 100`);
    }
  } finally {
    await made.source.close();
  }
}

export async function checkProbeRange(context: CheckContext): Promise<void> {
  const scoreOf = (sector: Uint8Array) => {
    const score = context.driver.probe(sector);
    if (!Number.isInteger(score) || score < 0 || score > 100) {
      fail(`probe scored ${score}, expected an integer from 0 to 100`);
    }
  };
  scoreOf(new Uint8Array(PROBE_SIZE));
  scoreOf(new Uint8Array(PROBE_SIZE).fill(0xff));
  fc.assert(
    fc.property(fc.uint8Array({ minLength: PROBE_SIZE, maxLength: PROBE_SIZE }), (sector) => scoreOf(sector)),
    fcParams(context),
  );
}

export async function checkOpen(context: CheckContext): Promise<void> {
  await withDevice(context, async ({ image }, expected) => {
    const { virtualSize, requestAlignment } = image;
    if (!Number.isSafeInteger(requestAlignment) || requestAlignment < 1) {
      fail(`requestAlignment is ${requestAlignment}, expected a positive integer`);
    }
    if (virtualSize !== expected.length) fail(`virtualSize is ${virtualSize}, expected ${expected.length}`);
    if (virtualSize % requestAlignment !== 0) {
      fail(`virtualSize ${virtualSize} is not a multiple of requestAlignment ${requestAlignment}`);
    }
  });
}

export async function checkReadWhole(context: CheckContext): Promise<void> {
  await withDevice(context, async ({ device }, expected) => {
    assertBytesEqual(await device.read(0, device.virtualSize), expected, 'Reading the whole disk');
  });
}

/**
 * readv with several buffers: the driver fills them in order, wherever one ends. For an
 * image over a parent, only what the image holds itself (its map's data and allocated runs)
 * is the driver's to fill; the rest comes from the parent, through core.
 */
export async function checkScatterRead(context: CheckContext): Promise<void> {
  await withDevice(context, async ({ image, device }, expected) => {
    const align = image.requestAlignment;
    const units = image.virtualSize / align;
    if (units === 0) return;
    const maxUnits = Math.max(1, Math.floor(context.maxReadLength / align));
    const request = fc.integer({ min: 0, max: units - 1 }).chain((first) =>
      fc
        .array(fc.integer({ min: 1, max: Math.min(maxUnits, units - first) }), { minLength: 1, maxLength: 4 })
        .map((sizes) => {
          const lengths: number[] = [];
          let left = units - first;
          for (const size of sizes) {
            const take = Math.min(size, left);
            if (take > 0) lengths.push(take * align);
            left -= take;
          }
          return { offset: first * align, lengths };
        }),
    );
    await fc.assert(
      fc.asyncProperty(request, async ({ offset, lengths }) => {
        const buffers = lengths.map((length) => new Uint8Array(length).fill(0xa5));
        await image.readv(offset, buffers);
        const total = lengths.reduce((sum, length) => sum + length, 0);
        const held = device.backing ? await device.blockStatus(offset, total) : [{ offset, length: total, data: true }];
        const got = new Uint8Array(total);
        let at = 0;
        for (const buffer of buffers) {
          got.set(buffer, at);
          at += buffer.length;
        }
        for (const run of held) {
          if (!run.data && !run.allocated) continue;
          const from = run.offset - offset;
          assertBytesEqual(
            got.subarray(from, from + run.length),
            expected.subarray(run.offset, run.offset + run.length),
            `readv of ${lengths.length} buffers at ${offset}, bytes at ${run.offset}`,
          );
        }
      }),
      fcParams(context),
    );
  });
}

export async function checkReadAnywhere(context: CheckContext): Promise<void> {
  await withDevice(context, async ({ device, requests }, expected) => {
    await fc.assert(
      fc.asyncProperty(rangeIn(device.virtualSize, context.maxReadLength), async ({ offset, length }) => {
        const bytes = await device.read(offset, length);
        assertBytesEqual(bytes, expected.subarray(offset, offset + length), `read(${offset}, ${length})`);
      }),
      fcParams(context),
    );
    // Over a parent, what the image does not hold is asked of its map and read from the parent.
    const reached = (r: string) =>
      r.startsWith('readv') || (device.backing !== undefined && r.startsWith('blockStatus'));
    if (device.virtualSize > 0 && !requests.some(reached)) fail('No read reached the driver');
  });
}

export async function checkOutOfRange(context: CheckContext): Promise<void> {
  await withDevice(context, async ({ device, requests }) => {
    const size = device.virtualSize;
    const bad: Array<[number, number]> = [
      [size, 1],
      [0, size + 1],
      [size + 4096, 512],
    ];
    if (size > 0) bad.push([size - 1, 2]);
    for (const [offset, length] of bad) {
      const error = await device.read(offset, length).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!hasErrorCode(error, 'ERANGE')) fail(`read(${offset}, ${length}) gave ${String(error)}, not OutOfRangeError`);
    }
    const unsafe = await device.read(2 ** 53, 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!hasErrorCode(unsafe, 'EOVERFLOW')) fail(`read(2^53, 1) gave ${String(unsafe)}, not UnsafeOffsetError`);
    if (requests.length > 0) fail(`Out-of-range reads reached the driver: ${requests.join('; ')}`);
  });
}

export async function checkConcurrentReads(context: CheckContext): Promise<void> {
  await withDevice(context, async ({ device }, expected) => {
    const ranges = fc.sample(rangeIn(device.virtualSize, context.maxReadLength), {
      numRuns: 64,
      seed: context.seed ?? 4,
    });
    const sequential: Uint8Array[] = [];
    for (const { offset, length } of ranges) sequential.push(await device.read(offset, length));
    const concurrent = await Promise.all(ranges.map(({ offset, length }) => device.read(offset, length)));
    ranges.forEach(({ offset, length }, i) => {
      const what = `concurrent read ${i} (${offset}, ${length})`;
      assertBytesEqual(concurrent[i] as Uint8Array, sequential[i] as Uint8Array, `${what} against the sequential read`);
      assertBytesEqual(concurrent[i] as Uint8Array, expected.subarray(offset, offset + length), what);
    });
  });
}

/** The driver's own runs for an aligned range: positive, in order, covering it exactly. */
function assertCovers(runs: readonly BlockStatusRun[], offset: number, length: number, what: string): void {
  let at = offset;
  for (const run of runs) {
    if (run.offset !== at) fail(`${what}: a run starts at ${run.offset}, expected ${at}`);
    if (!Number.isSafeInteger(run.length) || run.length <= 0) fail(`${what}: a run has length ${run.length}`);
    if (typeof run.data !== 'boolean') fail(`${what}: a run's data is ${String(run.data)}`);
    if (run.fileOffset !== undefined && (!Number.isSafeInteger(run.fileOffset) || run.fileOffset < 0)) {
      fail(`${what}: a run's file offset is ${run.fileOffset}`);
    }
    at += run.length;
  }
  if (at !== offset + length) fail(`${what}: the runs end at ${at}, expected ${offset + length}`);
}

export async function checkBlockStatusCovers(context: CheckContext): Promise<void> {
  const { driver } = context;
  const blockStatus = driver.blockStatus;
  if (!blockStatus) return;
  await withDevice(context, async ({ image, device }) => {
    const align = image.requestAlignment;
    const units = image.virtualSize / align;
    // Core never asks a driver about an empty range.
    if (units === 0) return;
    assertCovers(await blockStatus.call(driver, image, 0, image.virtualSize), 0, image.virtualSize, 'The whole disk');
    await fc.assert(
      fc.asyncProperty(rangeIn(units, Math.max(1, context.maxReadLength / align)), async (r) => {
        const offset = r.offset * align;
        const length = r.length * align;
        if (length === 0) return;
        assertCovers(
          await blockStatus.call(driver, image, offset, length),
          offset,
          length,
          `blockStatus(${offset}, ${length})`,
        );
        const cheap = await blockStatus.call(driver, image, offset, length, { wantZero: false });
        assertCovers(cheap, offset, length, `blockStatus(${offset}, ${length}, { wantZero: false })`);
        // And through core, at any offset: clipped, merged, still covering.
        const start = Math.max(0, offset - 1);
        const span = Math.min(length, device.virtualSize - start);
        assertCovers(await device.blockStatus(start, span), start, span, `BlockDevice.blockStatus(${start}, ${span})`);
      }),
      fcParams(context),
    );
  });
}

/**
 * The map agrees with read: what the map calls a hole reads as zeros, so reading only the
 * data runs and zero-filling the rest gives the disk back exactly.
 */
export async function checkMapMatchesRead(context: CheckContext): Promise<void> {
  await withDevice(context, async ({ device }, expected) => {
    const rebuild = async (offset: number, length: number, window?: number, wantZero = true) => {
      const bytes = new Uint8Array(length);
      for await (const run of allocationMap(device, { offset, length, window, wantZero })) {
        if (run.data) bytes.set(await device.read(run.offset, run.length), run.offset - offset);
      }
      return bytes;
    };
    assertBytesEqual(await rebuild(0, device.virtualSize), expected, 'Data runs and zeros elsewhere');
    // The cheap map (QEMU's want_zero false) may call zeros data, never data a hole.
    assertBytesEqual(
      await rebuild(0, device.virtualSize, undefined, false),
      expected,
      'Data runs of the map with wantZero false, and zeros elsewhere',
    );
    await fc.assert(
      fc.asyncProperty(
        rangeIn(device.virtualSize, context.maxReadLength),
        fc.integer({ min: 1, max: 64 * 1024 }),
        async ({ offset, length }, window) => {
          const what = `Data runs of (${offset}, ${length}) in windows of ${window}`;
          assertBytesEqual(await rebuild(offset, length, window), expected.subarray(offset, offset + length), what);
        },
      ),
      fcParams(context),
    );
  });
}

/**
 * The map's file offsets are true: where a data run says it lies in the file, the file
 * holds the run's bytes (a map that points elsewhere would send a copy tool, or `qemu-img
 * map`'s reader, to the wrong bytes). Runs without a file offset are not checked; a
 * parent's runs are looked up in the parent's file.
 */
export async function checkFileOffsets(context: CheckContext): Promise<void> {
  await withDevice(context, async ({ device }, expected) => {
    for await (const run of allocationMap(device)) {
      if (!run.data || run.fileOffset === undefined) continue;
      // A run of a parent (depth > 0) lies in the parent's file.
      let layer: BlockDevice | undefined = device;
      for (let depth = 0; depth < run.depth; depth++) layer = layer?.backing?.device;
      if (!layer) throw new Error(`The map gives a run at depth ${run.depth}, below the last image of the chain`);
      const stored = new Uint8Array(run.length);
      await layer.source.read(stored, run.fileOffset);
      assertBytesEqual(
        stored,
        expected.subarray(run.offset, run.offset + run.length),
        `The file's bytes at offset ${run.fileOffset}, where the map puts the data run at ${run.offset} (${run.length} bytes)`,
      );
    }
  });
}

/** The most of an image the corrupt-input check copies and mutates. */
const MAX_CORRUPT_COPY = 16 * 1024 * 1024;
/** What the corrupt-input check reads or maps of a corrupt image, at its start and its end. */
const CORRUPT_PROBE_SPAN = 64 * 1024;

/**
 * Corrupt input gives only VdiskErrors. The image is cut short at a range of lengths and
 * has bits flipped and bytes set (mostly in its first 64 KiB, where headers and tables
 * live); on each copy, probe, open, reads at the start and the end of the disk, the map
 * there, `info` and `check` either succeed or reject with a VdiskError. A TypeError or
 * RangeError from a field the driver trusted is a bug, whatever the bytes.
 */
export async function checkCorruptInput(context: CheckContext): Promise<void> {
  const made = await context.makeImage();
  let original: Uint8Array;
  try {
    original = new Uint8Array(Math.min(made.source.size, MAX_CORRUPT_COPY));
    await made.source.read(original, 0);
  } finally {
    await made.source.close();
  }
  const size = original.length;
  const cases: Array<{ what: string; bytes: Uint8Array }> = [];
  for (const length of new Set([0, 1, 511, 512, 513, 4096, size >> 1, size - 512, size - 1])) {
    if (length >= 0 && length < size) cases.push({ what: `cut to ${length} bytes`, bytes: original.slice(0, length) });
  }
  if (size > 0) {
    // Each of the first 64 bytes (magics, versions, sizes) set to all ones, then random
    // mutations: mostly in the first sector, some in the first 64 KiB, a few anywhere.
    for (let at = 0; at < Math.min(size, 64); at++) {
      const bytes = original.slice();
      bytes[at] = (bytes[at] as number) === 0xff ? 0 : 0xff;
      cases.push({ what: `byte ${at} set to ${bytes[at]}`, bytes });
    }
    const position = (span: number) => fc.integer({ min: 0, max: Math.min(size, span) - 1 });
    const mutation = fc.record({
      at: fc.oneof(
        { arbitrary: position(PROBE_SIZE), weight: 4 },
        { arbitrary: position(64 * 1024), weight: 2 },
        { arbitrary: position(size), weight: 1 },
      ),
      how: fc.constantFrom('flip', 'zero', 'ones'),
      bit: fc.integer({ min: 0, max: 7 }),
    });
    const sample = fc.sample(fc.array(mutation, { minLength: 1, maxLength: 4 }), {
      numRuns: context.numRuns,
      seed: context.seed ?? 10,
    });
    for (const mutations of sample) {
      const bytes = original.slice();
      for (const { at, how, bit } of mutations) {
        bytes[at] = how === 'flip' ? (bytes[at] as number) ^ (1 << bit) : how === 'zero' ? 0 : 0xff;
      }
      cases.push({
        what: mutations.map((m) => `${m.how} byte ${m.at}${m.how === 'flip' ? ` bit ${m.bit}` : ''}`).join(', '),
        bytes,
      });
    }
  }
  for (const { what, bytes } of cases) {
    const failure = await survives(context.driver, new MemorySource(bytes), made.options ?? {});
    if (failure !== undefined) {
      fail(`A corrupt image (${what}) gave an error that is not a VdiskError: ${failure}`);
    }
  }
}

/** Runs every read-only operation on `source`; the first error that is not a VdiskError, in words, or undefined. */
async function survives(
  driver: BlockDriver,
  source: ByteSource,
  options: Record<string, string>,
): Promise<string | undefined> {
  const describe = (error: unknown) =>
    error instanceof Error ? `${error.name}: ${error.message}` : `a thrown ${typeof error}: ${String(error)}`;
  const attempt = async (step: string, work: () => unknown): Promise<string | undefined> => {
    try {
      await work();
      return undefined;
    } catch (error) {
      return isVdiskError(error) ? undefined : `${step}: ${describe(error)}`;
    }
  };
  const sector = new Uint8Array(PROBE_SIZE);
  await source.read(sector.subarray(0, Math.min(PROBE_SIZE, source.size)), 0);
  const probed = await attempt('probe', () => driver.probe(sector));
  if (probed) return probed;
  let device: BlockDevice | undefined;
  const opened = await attempt('open', async () => {
    const image = await driver.open(source, { writable: false, options });
    device = new BlockDevice(driver, image, source);
  });
  if (opened || !device) return opened;
  const disk = device;
  try {
    const span = Math.min(CORRUPT_PROBE_SPAN, disk.virtualSize);
    const tail = disk.virtualSize - span;
    const steps: Array<[string, () => unknown]> = [
      ['read at the start', () => disk.read(0, span)],
      ['read at the end', () => disk.read(tail, span)],
      ['map at the start', () => consume(allocationMap(disk, { offset: 0, length: span }))],
      ['map at the end', () => consume(allocationMap(disk, { offset: tail, length: span }))],
      ['cheap map at the start', () => consume(allocationMap(disk, { offset: 0, length: span, wantZero: false }))],
      ['info', () => disk.info()],
    ];
    if (disk.canCheck) steps.push(['check', () => disk.check()]);
    for (const [step, work] of steps) {
      const failure = await attempt(step, work);
      if (failure) return failure;
    }
    return undefined;
  } finally {
    await disk.close().catch(() => {});
  }
}

async function consume(runs: AsyncIterable<unknown>): Promise<void> {
  for await (const _run of runs) {
    // the map's runs are only walked
  }
}

export async function checkClose(context: CheckContext): Promise<void> {
  const made = await context.makeImage();
  const image = await context.driver.open(made.source, { writable: false, options: made.options ?? {} });
  await image.close();
  await made.source.close();
}
