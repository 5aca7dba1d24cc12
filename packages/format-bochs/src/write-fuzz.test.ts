import { Registry, VdiskError } from '@vdisk/core';
import { PowerLossSource, SeededRandom } from '@vdisk/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { buildBochsImage } from './testing/index.js';

// Property-based fuzzing of Bochs writes through core, on valid and damaged images: a
// writable open either fails as the read-only open does, or opens; then either every write
// fails with a typed error and the file is untouched (an image check finds corrupt), or the
// writes land: the disk reads as the image did plus the writes (the model, worked out
// without the driver's write path), check finds no corruption, the header is never written,
// and the file grows by at most one slot per extent written. VDISK_WRITE_FUZZ_RUNS sets the
// number of cases (default 300).

const RUNS = Number(process.env.VDISK_WRITE_FUZZ_RUNS ?? 300);
const SEED = process.env.VDISK_FUZZ_SEED ? Number(process.env.VDISK_FUZZ_SEED) : 11;
const SECTOR = 512;
const driver = new BochsDriver();
const registry = new Registry([driver]);

const validImage = fc
  .record({
    extentShift: fc.integer({ min: 9, max: 14 }),
    extents: fc.integer({ min: 1, max: 20 }),
    spareEntries: fc.integer({ min: 0, max: 4 }),
    tailSectors: fc.integer({ min: 0, max: 7 }),
    bitmapExtra: fc.constantFrom(0, 0, 1, 700),
    written: fc.array(fc.nat(), { maxLength: 10 }),
  })
  .map((p) => {
    const extentSize = 2 ** p.extentShift;
    const diskSize = Math.max(
      SECTOR,
      p.extents * extentSize - SECTOR * Math.min(p.tailSectors, extentSize / SECTOR - 1),
    );
    const sectors = diskSize / SECTOR;
    const writes = [...new Set(p.written.map((w) => w % sectors))].map((s) => ({
      offset: s * SECTOR,
      data: new Uint8Array(SECTOR).fill((s % 251) + 1),
    }));
    const bitmapSize = Math.min(extentSize, Math.ceil(extentSize / SECTOR / 8) + p.bitmapExtra);
    return buildBochsImage({ diskSize, extentSize, catalogSize: p.extents + p.spareEntries, bitmapSize, writes });
  });

type Mutation = (image: Uint8Array) => Uint8Array;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // a catalog entry: a small slot (shared or past the end), unallocated, or anything
  fc
    .record({
      index: fc.nat({ max: 24 }),
      value: fc.oneof(fc.nat({ max: 30 }), fc.constant(0xffffffff), fc.nat({ max: 0xffffffff })),
    })
    .map(({ index, value }) => (b: Uint8Array) => {
      const at = 512 + 4 * index;
      if (at + 4 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(at, value, true);
      return b;
    }),
  // a byte of a bitmap or of data
  fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }).map(({ at, value }) => (b: Uint8Array) => {
    if (b.length > 600) b[600 + (at % (b.length - 600))] = value;
    return b;
  }),
  // garbage after the last slot (an orphan a crash left), or the file cut short
  fc.integer({ min: 1, max: 9000 }).map((n) => (b: Uint8Array) => {
    const longer = new Uint8Array(b.length + n).fill(0xa5);
    longer.set(b);
    return longer;
  }),
  fc.nat().map((n) => (b: Uint8Array) => b.slice(0, 512 + (n % Math.max(1, b.length - 511)))),
);
const image = fc
  .tuple(validImage, fc.array(mutation, { maxLength: 3 }))
  .map(([bytes, mutations]) => mutations.reduce((b, m) => m(b), bytes));

async function typed<T>(op: () => Promise<T>): Promise<T | VdiskError> {
  try {
    return await op();
  } catch (error) {
    if (error instanceof VdiskError && error.code !== 'EDRIVER' && !error.message.includes('\n')) return error;
    throw error;
  }
}

const seen = { refused: 0, blocked: 0, written: 0 };

async function writeCase(file: Uint8Array, seed: number): Promise<void> {
  const readOnly = await typed(() => registry.open(new PowerLossSource(file), { format: 'bochs' }));
  const source = new PowerLossSource(file, { seed, maxDelay: 2 });
  const device = await typed(() => registry.open(source, { format: 'bochs', writable: true }));
  if (readOnly instanceof VdiskError || device instanceof VdiskError) {
    // The same answer either way: writing adds no open check of its own.
    expect(device instanceof VdiskError && readOnly instanceof VdiskError).toBe(true);
    expect((device as VdiskError).message).toBe((readOnly as VdiskError).message);
    seen.refused++;
    return;
  }
  const size = device.virtualSize;
  const model = await typed(() => readOnly.read(0, size));
  if (model instanceof VdiskError) return; // an entry beyond 2^53: reads fail, as they must
  const before = await readOnly.check();
  const slotsAtOpen = (() => {
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    let next = 0;
    const entries = view.getUint32(0x48, true);
    for (let i = 0; i < entries && 512 + 4 * i + 4 <= file.length; i++) {
      const entry = view.getUint32(512 + 4 * i, true);
      if (entry !== 0xffffffff && entry + 1 > next) next = entry + 1;
    }
    return next;
  })();

  const random = new SeededRandom(seed);
  const ops = Array.from({ length: 1 + random.below(6) }, () => {
    const offset = random.below(size);
    const length = 1 + random.below(Math.min(size - offset, 9000));
    return { offset, length, kind: random.chance(0.8) ? 'write' : random.chance(0.5) ? 'zero' : 'discard' };
  });
  const first = await typed(() => device.write(0, model.subarray(0, Math.min(size, 512))));
  if (first instanceof VdiskError) {
    expect(first.message).toMatch(/^Image cannot be written safely: /);
    // The generated images all have a 512-byte header and a bitmap no larger than the extent:
    // only corruption blocks writes.
    expect(before.problems.some((p) => p.kind === 'corruption')).toBe(true);
    expect(source.operations.filter((op) => op.kind === 'write')).toEqual([]);
    seen.blocked++;
    await device.close();
    return;
  }
  expect(before.problems.some((p) => p.kind === 'corruption')).toBe(false);
  const touched = new Set<number>();
  for (const op of ops) {
    const bytes = new Uint8Array(op.length).fill((op.offset % 250) + 3);
    if (op.kind === 'write') {
      await device.write(op.offset, bytes);
      model.set(bytes, op.offset);
    } else {
      await (op.kind === 'zero' ? device.writeZeroes(op.offset, op.length) : device.discard(op.offset, op.length));
      model.fill(0, op.offset, op.offset + op.length);
    }
    const extent = new DataView(file.buffer, file.byteOffset).getUint32(0x50, true);
    for (let e = Math.floor(op.offset / extent); e <= Math.floor((op.offset + op.length - 1) / extent); e++) {
      touched.add(e);
    }
  }
  await device.flush();
  expect(Buffer.from(await device.read(0, size)).equals(Buffer.from(model))).toBe(true);
  const after = await device.check();
  expect(after.problems.filter((p) => p.kind === 'corruption')).toEqual([]);
  // Never the header; the catalog only where an entry is new; growth bounded by the slots taken.
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const catalogEnd = 512 + 4 * view.getUint32(0x48, true);
  for (const op of source.operations) {
    if (op.kind !== 'write') continue;
    expect(op.position).toBeGreaterThanOrEqual(512);
    if (op.position >= catalogEnd) continue;
    for (let at = op.position; at < op.position + op.bytes.length; at += 4) {
      expect(view.getUint32(at, true)).toBe(0xffffffff); // an entry that was unallocated
    }
  }
  const stride =
    SECTOR * (1 + Math.floor((view.getUint32(0x4c, true) - 1) / SECTOR) + view.getUint32(0x50, true) / SECTOR);
  const dataOffset = 512 + 4 * view.getUint32(0x48, true);
  expect(source.size).toBeLessThanOrEqual(
    Math.max(file.length, dataOffset + (slotsAtOpen + touched.size + 1) * stride),
  );
  await device.close();
  seen.written++;
}

describe('fuzzing Bochs writes', () => {
  it(`${RUNS} valid and damaged images: writes land as the model says, or are all refused (seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(image, fc.nat(), (file, seed) => writeCase(file, seed)),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    console.log(`write fuzz: ${RUNS} cases, seed ${SEED}: ${JSON.stringify(seen)}`);
    // A fuzz that never writes proves little.
    expect(seen.written).toBeGreaterThan(RUNS / 4);
    expect(seen.blocked).toBeGreaterThan(RUNS / 20);
  }, 120_000);
});
