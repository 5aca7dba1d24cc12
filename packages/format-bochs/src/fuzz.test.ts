import { Registry, VdiskError } from '@vdisk/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { BoundedSource } from './bounded-source.fixture.js';
import { buildBochsImage } from './testing/index.js';

// Property-based fuzzing of the Bochs driver through core: valid images with their
// header, catalog, bitmaps and length mutated, then probe, open, read, blockStatus and
// check. Only two outcomes are allowed: success with the bytes FORMAT.md says (worked out
// here from the spec, independently of the driver), or a typed VdiskError. Every read of
// the byte source is bounded: the catalog read at most 4 MiB, and while serving a request
// no read larger than the request padded to whole sectors. Each case has a time limit (a hang guard, not a timing).
//
// CI runs VDISK_FUZZ_RUNS (default 1500) cases with a fixed seed; `pnpm fuzz` runs 100,000
// with a random seed that it prints. Replay a failure with VDISK_FUZZ_SEED (and the path
// fast-check prints in VDISK_FUZZ_PATH).

const RUNS = Number(process.env.VDISK_FUZZ_RUNS ?? 1500);
const SEED = process.env.VDISK_FUZZ_SEED ? Number(process.env.VDISK_FUZZ_SEED) : RUNS > 1500 ? Date.now() % 2 ** 31 : 6;
const PATH = process.env.VDISK_FUZZ_PATH;
const CASE_TIME_LIMIT_MS = 10_000;
const MAX_CATALOG_BYTES = 4 * 1024 * 1024;
const TWO_53 = 2n ** 53n;

// ---------------------------------------------------------------- the images

const u32Boundaries = [
  0, 1, 255, 256, 511, 512, 513, 3000, 4096, 0x7fff, 0x8000, 0xffff, 0x10000, 0xfffff, 0x100000, 0x100001, 0x7fffff,
  0x800000, 0x800001, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
];
const u32 = fc.oneof(fc.constantFrom(...u32Boundaries), fc.nat({ max: 0xffffffff }));
const u64 = fc.oneof(
  fc.constantFrom(0n, 1n, 511n, 512n, 513n, 2n ** 32n, TWO_53 - 1n, TWO_53, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 0n, max: 2n ** 24n }),
);

/** A valid image: bximage-like but with small, varied extents, catalogs and bitmaps. */
const validImage = fc
  .record({
    version: fc.constantFrom(1 as const, 2 as const),
    extentShift: fc.integer({ min: 9, max: 16 }),
    extents: fc.integer({ min: 0, max: 24 }),
    spareEntries: fc.integer({ min: 0, max: 8 }),
    tailBytes: fc.integer({ min: 0, max: 511 }),
    bitmapSize: fc.oneof(fc.integer({ min: 1, max: 1100 }), fc.constant(0)),
    headerSize: fc.constantFrom(512, 512, 512, 1024),
    written: fc.array(fc.nat(), { maxLength: 12 }),
  })
  .map((p) => {
    const extentSize = 2 ** p.extentShift;
    const diskSize = Math.max(0, p.extents * extentSize - (p.tailBytes & ~511) - (p.extents ? 0 : 0));
    const sectors = Math.floor(diskSize / 512);
    const writes = sectors
      ? [...new Set(p.written.map((w) => w % sectors))].map((s) => ({
          offset: s * 512,
          data: new Uint8Array(512).fill((s % 251) + 1),
        }))
      : [];
    return buildBochsImage({
      version: p.version,
      diskSize,
      extentSize,
      catalogSize: p.extents + p.spareEntries,
      // The builder writes bitmaps as if they held a whole extent; keep them big enough.
      bitmapSize: p.bitmapSize === 0 ? 0 : Math.max(p.bitmapSize, Math.ceil(extentSize / 512 / 8)),
      headerSize: p.headerSize,
      writes,
    });
  });

type Mutation = (image: Uint8Array) => Uint8Array;
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const inRange = (b: Uint8Array, at: number, size: number) => at + size <= b.length;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // a uint32 header field: version, header, catalog, bitmap, extent, v2 timestamp / v1 disk low
  fc
    .record({ field: fc.constantFrom(0x40, 0x44, 0x48, 0x4c, 0x50, 0x54), value: u32 })
    .map(({ field, value }) => (b: Uint8Array) => {
      if (inRange(b, field, 4)) view(b).setUint32(field, field === 0x40 && value % 3 === 0 ? 0x10000 : value, true);
      return b;
    }),
  // the disk size, at v2's or v1's place
  fc.record({ field: fc.constantFrom(0x54, 0x58), value: u64 }).map(({ field, value }) => (b: Uint8Array) => {
    if (inRange(b, field, 8)) view(b).setBigUint64(field, value, true);
    return b;
  }),
  // a catalog entry
  fc.record({ index: fc.nat({ max: 40 }), value: u32 }).map(({ index, value }) => (b: Uint8Array) => {
    const at = (b.length >= 0x48 ? view(b).getUint32(0x44, true) : 512) + 4 * index;
    if (inRange(b, at, 4)) view(b).setUint32(at, value, true);
    return b;
  }),
  // any byte (bitmaps and data included), and the magic, type and subtype text
  fc
    .record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), text: fc.boolean() })
    .map(({ at, value, text }) => (b: Uint8Array) => {
      if (b.length > 0) b[text ? at % Math.min(b.length, 0x40) : at % b.length] = value;
      return b;
    }),
  // cut the file short
  fc.nat().map((n) => (b: Uint8Array) => b.slice(0, n % (b.length + 1))),
);

const hostileImage = fc
  .tuple(validImage, fc.array(mutation, { maxLength: 5 }))
  .map(([image, mutations]) => mutations.reduce((b, m) => m(b), image));

// ---------------------------------------------------------------- the spec, for checking

interface SpecHeader {
  headerSize: bigint;
  catalogSize: number;
  bitmapBlocks: bigint;
  extentSize: number;
  virtualSize: number;
}

const byteAt = (file: Uint8Array, at: bigint) => (at < BigInt(file.length) ? (file[Number(at)] as number) : 0);
const u32At = (file: Uint8Array, at: bigint) =>
  (byteAt(file, at) | (byteAt(file, at + 1n) << 8) | (byteAt(file, at + 2n) << 16) | (byteAt(file, at + 3n) << 24)) >>>
  0;

function cString(file: Uint8Array, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (byteAt(file, BigInt(at + i)) !== text.charCodeAt(i)) return false;
  return byteAt(file, BigInt(at + text.length)) === 0;
}

/** FORMAT.md §5's checks in order: the open's error message, or the header it gives. */
function specOpen(file: Uint8Array): string | SpecHeader {
  const version = u32At(file, 0x40n);
  const isBochs =
    cString(file, 0, 'Bochs Virtual HD Image') &&
    cString(file, 0x20, 'Redolog') &&
    cString(file, 0x30, 'Growing') &&
    (version === 0x10000 || version === 0x20000);
  if (!isBochs) return 'Image not in Bochs format';
  const diskAt = version === 0x10000 ? 0x54n : 0x58n;
  const disk = BigInt(u32At(file, diskAt)) | (BigInt(u32At(file, diskAt + 4n)) << 32n);
  const catalogSize = u32At(file, 0x48n);
  if (catalogSize > 0x100000) return 'Catalog size is too large';
  const extent = u32At(file, 0x50n);
  if (extent < 512) return 'Extent size must be at least 512';
  if ((extent & (extent - 1)) !== 0) return `Extent size ${extent} is not a power of two`;
  if (extent > 0x800000) return `Extent size ${extent} is too large`;
  const sectors = disk / 512n;
  const perExtent = BigInt(extent / 512);
  if (BigInt(catalogSize) < (sectors + perExtent - 1n) / perExtent) {
    return 'Catalog size is too small for this disk size';
  }
  const bitmap = BigInt(u32At(file, 0x4cn));
  return {
    headerSize: BigInt(u32At(file, 0x44n)),
    catalogSize,
    bitmapBlocks: 1n + ((bitmap - 1n) & 0xffffffffn) / 512n,
    extentSize: extent,
    virtualSize: Number(sectors * 512n),
  };
}

/** Where virtual sector `sector` lives in the file (FORMAT.md §3), or undefined when it reads as zeros. */
function specSector(file: Uint8Array, h: SpecHeader, sector: number): { data?: bigint; beyond53: boolean } {
  const perExtent = h.extentSize / 512;
  const extent = Math.floor(sector / perExtent);
  const within = BigInt(sector % perExtent);
  const entry = u32At(file, h.headerSize + 4n * BigInt(extent));
  if (entry === 0xffffffff) return { beyond53: false };
  const slot = h.headerSize + 4n * BigInt(h.catalogSize) + 512n * BigInt(entry) * (h.bitmapBlocks + BigInt(perExtent));
  const bits = slot + within / 8n;
  if (bits >= TWO_53) return { beyond53: true };
  if (((byteAt(file, bits) >> Number(within % 8n)) & 1) === 0) return { beyond53: false };
  const data = slot + 512n * (h.bitmapBlocks + within);
  return { data, beyond53: data + 512n > TWO_53 };
}

// ---------------------------------------------------------------- the byte source's bounds

/** Runs `op`; a VdiskError is returned as a value, anything else fails the case. */
async function typed<T>(op: () => Promise<T>): Promise<T | VdiskError> {
  try {
    return await op();
  } catch (error) {
    if (error instanceof VdiskError && error.code !== 'EDRIVER') {
      if (error.message.includes('\n')) throw new Error(`error message of more than one line: ${error.message}`);
      return error;
    }
    throw error;
  }
}

const requests = fc.array(
  fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.nat({ max: 70_000 }) }),
  {
    maxLength: 4,
  },
);

const registry = new Registry([new BochsDriver()]);
/** What the cases did, printed at the end: a fuzz that never opens an image proves little. */
const seen = { opened: 0, refused: 0, reads: 0, dataBytes: 0, overflows: 0 };

async function fuzzCase(file: Uint8Array, reads: { at: number; length: number }[]): Promise<void> {
  const spec = specOpen(file);
  const sector = new Uint8Array(512);
  sector.set(file.subarray(0, 512));
  expect(new BochsDriver().probe(sector)).toBe(spec === 'Image not in Bochs format' ? 0 : 100);

  const source = new BoundedSource(file);
  source.bound = MAX_CATALOG_BYTES;
  const device = await typed(() => registry.open(source, { format: 'bochs' }));
  if (device instanceof VdiskError) {
    expect(device.message).toBe(spec);
    seen.refused++;
    return;
  }
  try {
    if (typeof spec === 'string') throw new Error(`opened, but the spec says: ${spec}`);
    expect(device.virtualSize).toBe(spec.virtualSize);
    seen.opened++;

    for (const { at, length: wanted } of reads) {
      const offset = Math.floor(at * device.virtualSize);
      const length = Math.min(wanted, device.virtualSize - offset);
      const first = Math.floor(offset / 512);
      const last = Math.ceil((offset + length) / 512);
      // No read larger than the request as the driver gets it: padded to whole sectors.
      source.bound = (last - first) * 512;
      const expected = new Uint8Array((last - first) * 512);
      let beyond53 = false;
      const sectors: { data?: bigint }[] = [];
      for (let s = first; s < last; s++) {
        const where = specSector(file, spec, s);
        sectors.push(where);
        beyond53 ||= where.beyond53;
        if (where.data !== undefined && !where.beyond53) {
          for (let i = 0; i < 512; i++) expected[(s - first) * 512 + i] = byteAt(file, where.data + BigInt(i));
        }
      }

      const bytes = await typed(() => device.read(offset, length));
      if (bytes instanceof VdiskError) {
        expect(bytes.code, bytes.message).toBe('EOVERFLOW');
        expect(beyond53, bytes.message).toBe(true);
        seen.overflows++;
      } else {
        seen.reads++;
        seen.dataBytes += sectors.filter((where) => where.data !== undefined).length * 512;
        expect(beyond53).toBe(false);
        const from = offset - first * 512;
        expect(Buffer.from(bytes).equals(Buffer.from(expected.subarray(from, from + length)))).toBe(true);
      }

      const runs = await typed(() => device.blockStatus(offset, length));
      if (runs instanceof VdiskError) {
        expect(runs.code, runs.message).toBe('EOVERFLOW');
        expect(beyond53).toBe(true);
      } else {
        let position = offset;
        for (const run of runs) {
          expect(run.offset).toBe(position);
          for (let p = run.offset; p < run.offset + run.length; p = Math.floor(p / 512) * 512 + 512) {
            const where = sectors[Math.floor(p / 512) - first] as { data?: bigint };
            expect(run.data).toBe(where.data !== undefined);
            if (run.fileOffset !== undefined) {
              expect(BigInt(run.fileOffset + (p - run.offset))).toBe((where.data as bigint) + BigInt(p % 512));
            }
          }
          position += run.length;
        }
        expect(position).toBe(offset + length);
      }
    }

    source.bound = 0; // check works from the catalog it holds
    const report = await typed(() => device.check());
    if (report instanceof VdiskError) throw report;
    expect(report.problems.length).toBeLessThanOrEqual(1000);
  } finally {
    await device.close();
  }
}

describe('fuzzing the Bochs driver', () => {
  it(
    `${RUNS} mutated images: success with the spec's bytes, or a typed error (seed ${SEED})`,
    async () => {
      console.log(`fuzz: ${RUNS} cases, seed ${SEED}${PATH ? `, path ${PATH}` : ''}`);
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(hostileImage, requests, fuzzCase),
        // timeout: each case's own time limit, so that a hang fails the case that hangs.
        { numRuns: RUNS, timeout: CASE_TIME_LIMIT_MS, seed: SEED, ...(PATH ? { path: PATH } : {}), endOnFailure: true },
      );
      console.log(
        `fuzz: ${RUNS} cases, seed ${SEED}, ${((Date.now() - started) / 1000).toFixed(1)} s, 0 failures; ${JSON.stringify(seen)}`,
      );
    },
    RUNS * CASE_TIME_LIMIT_MS,
  );
});
