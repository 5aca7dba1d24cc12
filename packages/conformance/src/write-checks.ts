import { type ByteSource, isVdiskError, ReadOnlyError } from '@vdisk/core';
import fc from 'fast-check';
import { assertBytesEqual } from './bytes-equal.js';
import { type CheckedDevice, openChecked } from './checked-device.js';
import type { CheckContext } from './conformance-checks.js';
import type { ConformanceImage } from './conformance-image.js';

/**
 * The write half of the contract as checks. Each one opens a fresh image writable and
 * compares every read with a model of the disk kept here, in memory, from the image's
 * `expected` bytes and the writes made: never with the driver's own answers. A driver
 * without `write` has nothing to check (but `checkReadOnlyOpen`, which every driver runs).
 */

function fail(message: string): never {
  throw new Error(message);
}

async function withWritableDevice(
  context: CheckContext,
  fn: (checked: CheckedDevice, model: Uint8Array, made: ConformanceImage) => Promise<void>,
): Promise<void> {
  const made = await context.makeImage();
  const model = made.expected.slice();
  let checked: CheckedDevice;
  try {
    checked = await openChecked(context.driver, made, { writable: true });
  } catch (error) {
    await made.source.close();
    throw error;
  }
  try {
    await fn(checked, model, made);
    if (checked.violations.length > 0) fail(`Requests that broke the contract: ${checked.violations.join('; ')}`);
  } finally {
    await checked.device.close();
  }
}

/** Bytes that say which write put them there and where: a misplaced or lost write shows. */
function payload(write: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = ((write * 97 + i * 31 + 17) % 251) + 1;
  return bytes;
}

/** A range of a disk of `size` bytes, at least 1 byte: aligned to `align` half of the time, anywhere otherwise. */
function writeRange(size: number, align: number, max: number): fc.Arbitrary<{ offset: number; length: number }> {
  const units = Math.floor(size / align);
  const offset = fc.oneof(
    fc.integer({ min: 0, max: Math.max(0, units - 1) }).map((unit) => unit * align),
    fc.integer({ min: 0, max: size - 1 }),
  );
  return offset.chain((start) => {
    const most = Math.max(1, Math.min(max, size - start));
    const length = fc.oneof(
      fc.integer({ min: 1, max: Math.max(1, Math.floor(most / align)) }).map((n) => Math.min(n * align, most)),
      fc.integer({ min: 1, max: most }),
    );
    return length.map((length) => ({ offset: start, length }));
  });
}

const sampleParams = (context: CheckContext, salt: number) => ({
  numRuns: context.numRuns,
  seed: (context.seed ?? 42) + salt,
});

async function assertDisk(device: CheckedDevice['device'], model: Uint8Array, what: string): Promise<void> {
  assertBytesEqual(await device.read(0, model.length), model, what);
}

/** Writes at random offsets, lengths and alignments read back, and leave their neighbours alone. */
export async function checkWriteAnywhere(context: CheckContext): Promise<void> {
  if (!context.driver.write) return;
  await withWritableDevice(context, async ({ device, image }, model) => {
    const size = model.length;
    if (size === 0) return;
    const align = image.requestAlignment;
    const ranges = fc.sample(writeRange(size, align, context.maxReadLength), sampleParams(context, 1));
    for (const [i, { offset, length }] of ranges.entries()) {
      const data = payload(i, length);
      await device.write(offset, data);
      model.set(data, offset);
      const what = `write ${i} (${offset}, ${length})`;
      assertBytesEqual(await device.read(offset, length), data, `Reading back ${what}`);
      const from = Math.max(0, offset - align);
      const to = Math.min(size, offset + length + align);
      assertBytesEqual(await device.read(from, to - from), model.subarray(from, to), `The bytes around ${what}`);
    }
    await assertDisk(device, model, `The whole disk after ${ranges.length} writes`);
  });
}

/**
 * Concurrent writes to disjoint bytes all land, in any interleaving the driver allows:
 * among them two unaligned writes into one alignment unit (core serialises their
 * read-modify-writes; the driver must not lose one either, e.g. by allocating twice).
 */
export async function checkConcurrentWrites(context: CheckContext): Promise<void> {
  if (!context.driver.write) return;
  for (let round = 0; round < 4; round++) {
    await withWritableDevice(context, async ({ device, image }, model) => {
      const size = model.length;
      if (size < 2) return;
      const align = image.requestAlignment;
      const ranges: Array<{ offset: number; length: number }> = [];
      // Two writes into one unit, neither aligned (two neighbouring bytes when align is 1).
      const unit = Math.floor(Math.floor(size / align) / 2) * align;
      if (align >= 4) {
        ranges.push({ offset: unit + 1, length: Math.floor(align / 2) - 1 });
        ranges.push({ offset: unit + Math.floor(align / 2), length: Math.floor(align / 2) - 1 });
      } else {
        ranges.push({ offset: unit, length: 1 }, { offset: unit + 1, length: 1 });
      }
      const cuts = fc.sample(fc.integer({ min: 0, max: size }), { numRuns: 48, seed: (context.seed ?? 7) + round });
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      for (let i = 0; i + 1 < points.length; i += 2) {
        const offset = points[i] as number;
        const length = Math.min((points[i + 1] as number) - offset, context.maxReadLength);
        if (ranges.some((r) => r.offset < offset + length && offset < r.offset + r.length)) continue;
        ranges.push({ offset, length });
      }
      const datas = ranges.map(({ length }, i) => payload(i + 100 * round, length));
      await Promise.all(ranges.map(({ offset }, i) => device.write(offset, datas[i] as Uint8Array)));
      ranges.forEach(({ offset }, i) => {
        model.set(datas[i] as Uint8Array, offset);
      });
      await assertDisk(device, model, `The whole disk after ${ranges.length} concurrent writes (round ${round})`);
    });
  }
}

async function checkZeroing(context: CheckContext, kind: 'writeZeroes' | 'discard'): Promise<void> {
  if (!context.driver.write) return;
  await withWritableDevice(context, async ({ device, image }, model) => {
    const size = model.length;
    if (size === 0) return;
    const align = image.requestAlignment;
    const range = writeRange(size, align, context.maxReadLength);
    const steps = fc.sample(fc.tuple(range, range, fc.boolean()), sampleParams(context, kind === 'discard' ? 3 : 2));
    for (const [i, [written, zeroed, mayUnmap]] of steps.entries()) {
      // Data first, so that zeroing has something to drop (an allocated extent, a slot).
      const data = payload(i, written.length);
      await device.write(written.offset, data);
      model.set(data, written.offset);
      const { offset, length } = zeroed;
      if (kind === 'discard') await device.discard(offset, length);
      else await device.writeZeroes(offset, length, { mayUnmap });
      model.fill(0, offset, offset + length);
      const what = `${kind}(${offset}, ${length}) after write (${written.offset}, ${written.length})`;
      const from = Math.max(0, Math.min(offset, written.offset) - align);
      const to = Math.min(size, Math.max(offset + length, written.offset + written.length) + align);
      assertBytesEqual(await device.read(from, to - from), model.subarray(from, to), what);
    }
    await assertDisk(device, model, `The whole disk after ${steps.length} ${kind} calls`);
  });
}

/** What `writeZeroes` covers reads as zeros, and nothing else changes. */
export function checkWriteZeroes(context: CheckContext): Promise<void> {
  return checkZeroing(context, 'writeZeroes');
}

/** What `discard` covers reads as zeros (vdisk's rule), and nothing else changes. */
export function checkDiscard(context: CheckContext): Promise<void> {
  return checkZeroing(context, 'discard');
}

/**
 * `flush` resolves, and the writes are in the image's bytes: closed and reopened from a
 * fresh source (when the image offers one), the disk reads as the model.
 */
export async function checkFlush(context: CheckContext): Promise<void> {
  if (!context.driver.write) return;
  let reopened: { made: ConformanceImage; model: Uint8Array } | undefined;
  await withWritableDevice(context, async ({ device, image }, model, made) => {
    const size = model.length;
    if (size === 0) return;
    const ranges = fc.sample(writeRange(size, image.requestAlignment, context.maxReadLength), {
      numRuns: 8,
      seed: (context.seed ?? 42) + 4,
    });
    for (const [i, { offset, length }] of ranges.entries()) {
      const data = payload(i, length);
      await device.write(offset, data, { fua: i === 0 });
      model.set(data, offset);
      if (i % 3 === 2) await device.flush();
    }
    await device.flush();
    await assertDisk(device, model, 'The whole disk after writes and a flush');
    if (made.reopen) reopened = { made, model };
  });
  if (!reopened) return;
  const { made, model } = reopened;
  const source = await made.reopen?.();
  if (!source) return;
  const checked = await openChecked(context.driver, { ...made, source });
  try {
    await assertDisk(checked.device, model, 'The whole disk reopened after the writes, the flush and close');
  } finally {
    await checked.device.close();
  }
}

/** Writes, zeroes and discards beyond the disk fail with `OutOfRangeError`, reach no driver, and change nothing. */
export async function checkWriteOutOfRange(context: CheckContext): Promise<void> {
  if (!context.driver.write) return;
  await withWritableDevice(context, async ({ device, requests }, model) => {
    // The size the image must have, not the one the driver claims: a driver that claims
    // more would take writes beyond the disk.
    const size = model.length;
    const bad: Array<[number, number]> = [
      [size, 1],
      [0, size + 1],
      [size + 4096, 512],
    ];
    if (size > 0) bad.push([size - 1, 2]);
    for (const [offset, length] of bad) {
      for (const [what, attempt] of [
        ['write', () => device.write(offset, new Uint8Array(length).fill(0xa5))],
        ['writeZeroes', () => device.writeZeroes(offset, length)],
        ['discard', () => device.discard(offset, length)],
      ] as const) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        if (!(isVdiskError(error) && error.code === 'ERANGE')) {
          fail(`${what}(${offset}, ${length}) gave ${String(error)}, not OutOfRangeError`);
        }
      }
    }
    const unsafe = await device.write(2 ** 53, new Uint8Array(1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(isVdiskError(unsafe) && unsafe.code === 'EOVERFLOW'))
      fail(`write(2^53, 1) gave ${String(unsafe)}, not UnsafeOffsetError`);
    const reached = requests.filter((r) => !r.startsWith('readv') && !r.startsWith('blockStatus'));
    if (reached.length > 0) fail(`Out-of-range writes reached the driver: ${reached.join('; ')}`);
    await assertDisk(device, model, 'The disk after refused writes');
  });
}

/** A byte source that forwards reads and records every call that could change its bytes. */
function recordingSource(inner: ByteSource, changes: string[]): ByteSource {
  const source: ByteSource = {
    get size() {
      return inner.size;
    },
    read: (buffer, position) => inner.read(buffer, position),
    close: () => inner.close(),
  };
  if (inner.readv) source.readv = inner.readv.bind(inner);
  source.write = (buffer, position) => {
    changes.push(`write(${position}, ${buffer.length})`);
    return inner.write ? inner.write(buffer, position) : Promise.reject(new ReadOnlyError());
  };
  source.writev = (buffers, position) => {
    changes.push(`writev(${position}, ${buffers.length} buffers)`);
    return inner.writev ? inner.writev(buffers, position) : Promise.reject(new ReadOnlyError());
  };
  source.truncate = (size) => {
    changes.push(`truncate(${size})`);
    return inner.truncate ? inner.truncate(size) : Promise.reject(new ReadOnlyError());
  };
  return source;
}

/**
 * Opened read-only, an image refuses writes with `ReadOnlyError` before they reach the
 * driver, and the driver never writes to its source: not at open (no header rewritten, no
 * dirty flag), not while reading, not at close. Every driver runs it, writable or not.
 */
export async function checkReadOnlyOpen(context: CheckContext): Promise<void> {
  const made = await context.makeImage();
  const changes: string[] = [];
  const source = recordingSource(made.source, changes);
  let checked: CheckedDevice;
  try {
    checked = await openChecked(context.driver, { ...made, source });
  } catch (error) {
    await made.source.close();
    throw error;
  }
  const { device, requests } = checked;
  try {
    const size = made.expected.length;
    if (size > 0) {
      for (const [what, attempt] of [
        ['write', () => device.write(0, new Uint8Array(1))],
        ['writeZeroes', () => device.writeZeroes(0, 1)],
        ['discard', () => device.discard(0, 1)],
      ] as const) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        if (!(isVdiskError(error) && error.code === 'EROFS'))
          fail(`${what} on a read-only image gave ${String(error)}, not ReadOnlyError`);
      }
    }
    assertBytesEqual(await device.read(0, size), made.expected, 'The disk opened read-only');
    await device.flush();
    const reached = requests.filter((r) => !r.startsWith('readv') && !r.startsWith('blockStatus'));
    if (reached.length > 0) fail(`Writes to a read-only image reached the driver: ${reached.join('; ')}`);
  } finally {
    await device.close();
  }
  if (changes.length > 0) fail(`The driver changed its source when opened read-only: ${changes.join('; ')}`);
}
