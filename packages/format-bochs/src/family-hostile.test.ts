/**
 * Hostile bochs-sparse and bochs-redolog images: a crafted corpus (header fields at their
 * boundaries, page tables past the end, a base of the wrong size, a redolog whose base is
 * a redolog, layer loops), then a fuzzer that mutates valid images. Only two outcomes are
 * allowed: success, or a typed VdiskError with a one-line message; and every read of the
 * file is bounded (the table at open at most 4 MiB, a request's reads by the request).
 */
import { type BackingOpener, MemorySource, Registry, VdiskError } from '@vdisk/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { BoundedSource } from './bounded-source.fixture.js';
import { rawStandIn } from './raw-stand-in.fixture.js';
import { BochsRedologDriver } from './redolog-driver.js';
import { BochsSparseDriver } from './sparse-driver.js';
import { buildBochsImage } from './testing/image-builder.js';
import { buildSparseImage } from './testing/sparse-builder.js';

const RUNS = Math.max(1, Math.floor(Number(process.env.VDISK_FUZZ_RUNS ?? 1500) / 3));
const SEED = process.env.VDISK_FUZZ_SEED ? Number(process.env.VDISK_FUZZ_SEED) : 11;
const MAX_TABLE_READ = 4 * 1024 * 1024;

const registry = new Registry([rawStandIn, new BochsDriver(), new BochsSparseDriver(), new BochsRedologDriver()]);

/** Files by name for parents; identity is the name, or `same` maps names onto one identity (a loop). */
function opener(files: Record<string, Uint8Array>, same: Record<string, string> = {}): BackingOpener {
  return {
    identity: 'top',
    async open(reference) {
      const bytes = files[reference.filename];
      if (!bytes) {
        if (reference.ifExists) return undefined;
        throw new VdiskError('EIO', 'No such file or directory');
      }
      return {
        source: new MemorySource(bytes),
        filename: reference.filename,
        identity: same[reference.filename] ?? reference.filename,
      };
    },
  };
}

/** 'ok', or the code of the VdiskError; anything else (a TypeError, a RangeError) fails the test. */
async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (error) {
    if (!(error instanceof VdiskError)) throw error;
    expect(error.message).not.toContain('\n');
    return `${error.code}: ${error.message}`;
  }
}

/** Opens, reads the start, the end and a middle, maps and checks: the whole surface. */
async function exercise(bytes: Uint8Array, options: Parameters<Registry['open']>[1] = {}): Promise<string> {
  return outcome(async () => {
    const device = await registry.open(new MemorySource(bytes), options);
    try {
      const size = device.virtualSize;
      for (const at of [0, Math.floor(size / 2), Math.max(0, size - 4096)]) {
        await device.read(at, Math.min(4096, size - at));
      }
      await device.blockStatus(0, size);
      await device.check();
    } finally {
      await device.close();
    }
  });
}

const PAGE = 32768;
const DISK = 1 << 20;
const header = (fields: { pageSize?: number; pageCount?: number; disk?: bigint; version?: number }) => {
  const bytes = buildSparseImage({ diskSize: DISK, pages: [{ page: 1, data: new Uint8Array(PAGE).fill(9) }] });
  const view = new DataView(bytes.buffer);
  if (fields.version !== undefined) view.setUint32(4, fields.version, true);
  if (fields.pageSize !== undefined) view.setUint32(8, fields.pageSize, true);
  if (fields.pageCount !== undefined) view.setUint32(12, fields.pageCount, true);
  if (fields.disk !== undefined) view.setBigUint64(16, fields.disk, true);
  return bytes;
};

describe('crafted bochs-sparse images', () => {
  const cases: Array<[string, Uint8Array, string | RegExp]> = [
    ['an empty header (100 bytes)', header({}).subarray(0, 100), /^EFORMAT: /],
    [
      'a table cut by the end of the file',
      header({}).subarray(0, 256 + 4 * 10),
      'EFORMAT: could not read entire block table',
    ],
    ['page size 0', header({ pageSize: 0 }), 'EFORMAT: failed block size header check'],
    ['page size 3 * 512', header({ pageSize: 1536 }), 'EFORMAT: failed block size header check'],
    [
      'page size 256',
      header({ pageSize: 256 }),
      'EFORMAT: page size of sparse disk image is not multiple of sector size',
    ],
    ['page size 2^31', header({ pageSize: 2 ** 31 }), 'ok'],
    ['page count 0 with a disk', header({ pageCount: 0 }), 'EFORMAT: sparse: disk size is larger than its pages'],
    [
      'page count 2^32 - 1 in a small file',
      header({ pageCount: 0xffffffff }),
      'EFORMAT: could not read entire block table',
    ],
    ['a disk of 2^64 - 1', header({ disk: 2n ** 64n - 1n }), /^EFORMAT: /],
    [
      'a disk of 2^53 + 512 with pages for it',
      header({ pageSize: 2 ** 31, pageCount: 2 ** 22 + 1, disk: 2n ** 53n + 512n }),
      /^E/,
    ],
    ['a disk not a multiple of 512 (rounded up, within its pages)', header({ disk: BigInt(DISK - 100) }), 'ok'],
    ['version 1 (size from the pages)', header({ version: 1 }), 'ok'],
  ];
  for (const [name, bytes, expected] of cases) {
    it(name, async () => {
      const result = await exercise(bytes);
      if (typeof expected === 'string') expect(result).toBe(expected);
      else expect(result).toMatch(expected);
    });
  }

  it('version 3 is not this format: probing calls it raw, naming the format gives Bochs words', async () => {
    expect(new BochsSparseDriver().probe(header({ version: 3 }).subarray(0, 512))).toBe(0);
    expect(await exercise(header({ version: 3 }), { format: 'bochs-sparse' })).toBe(
      'EFORMAT: sparse: unknown version in header',
    );
  });

  it('table entries past the end, and past 2^53, read zeros or fail typed, and check calls them corruption', async () => {
    const bytes = buildSparseImage({
      diskSize: DISK,
      entries: [
        { page: 0, entry: 5 },
        { page: 1, entry: 0xfffffffe },
      ],
    });
    const device = await registry.open(new MemorySource(bytes));
    expect((await device.read(0, 4096)).every((b) => b === 0)).toBe(true);
    expect((await device.check()).problems.filter((p) => p.kind === 'corruption')).toHaveLength(2);
    await device.close();
    const far = header({ pageSize: 2 ** 31, pageCount: 4, disk: 2n ** 33n });
    new DataView(far.buffer).setUint32(256 + 4 * 3, 0xfffffffe, true);
    expect(await exercise(far)).toMatch(/^(ok|EOVERFLOW: .*beyond 2\^53)/);
    const device2 = await registry.open(new MemorySource(far));
    await expect(device2.read(3 * 2 ** 31, 512)).rejects.toMatchObject({ code: 'EOVERFLOW' });
    await device2.close();
  });

  it('a layer loop and a layer of another size are typed errors', async () => {
    const layer = buildSparseImage({ diskSize: DISK });
    // c.img.0 is the top itself under another name (a symlink): same identity.
    await expect(
      registry.open(new MemorySource(layer), {
        format: 'bochs-sparse',
        filename: 'c.img.1',
        backingOpener: opener({ 'c.img.0': layer }, { 'c.img.0': 'top' }),
      }),
    ).rejects.toMatchObject({
      code: 'EFORMAT',
      message: "Backing file 'c.img.0' would make a loop in the backing chain",
    });
    await expect(
      registry.open(new MemorySource(layer), {
        format: 'bochs-sparse',
        filename: 'c.img.1',
        backingOpener: opener({ 'c.img.0': buildSparseImage({ diskSize: 2 * DISK }) }),
      }),
    ).rejects.toThrow('child drive image does not have same page count/page size configuration');
    // Ten layers deep, each over the next: c9 over c8 ... over c0, all opened, within the limit.
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 9; i++)
      files[`c${i}`] = buildSparseImage({
        diskSize: DISK,
        pages: i === 0 ? [{ page: 0, data: new Uint8Array(PAGE).fill(7) }] : [],
      });
    const deep = await registry.open(new MemorySource(layer), {
      format: 'bochs-sparse',
      filename: 'c9',
      backingOpener: opener(files),
    });
    expect((await deep.read(0, 512)).every((b) => b === 7)).toBe(true);
    await deep.close();
  });
});

describe('crafted bochs-redolog images', () => {
  const base = new Uint8Array(1032192).fill(5);
  const log = (diskSize = 1032192) => buildBochsImage({ diskSize, subtype: 'Undoable' });
  const open = (
    bytes: Uint8Array,
    files: Record<string, Uint8Array>,
    same: Record<string, string> = {},
    options = {},
  ) => exercise(bytes, { filename: 'disk.img.redolog', backingOpener: opener(files, same), options });

  it('a base of the wrong size', async () => {
    expect(await open(log(1032192 * 2), { 'disk.img': base })).toBe(
      "EFORMAT: size reported by redolog doesn't match r/o disk size",
    );
  });

  it('a redolog whose base is itself (a loop), and one whose base is a redolog', async () => {
    const bytes = log();
    expect(await open(bytes, { 'self.redolog': bytes }, { 'self.redolog': 'top' }, { base: 'self.redolog' })).toBe(
      "EFORMAT: Backing file 'self.redolog' would make a loop in the backing chain",
    );
    // disk.img is itself a redolog, with no name to find its own base by: a typed error, naming it.
    expect(await open(bytes, { 'disk.img': log() })).toBe(
      'EINVAL: The base image of a redolog is not known: name the redolog BASE.redolog, or give -o base=PATH',
    );
    // Named by Bochs's rule all the way down, the chain opens.
    expect(
      await exercise(bytes, {
        filename: 'disk.img.redolog.redolog',
        backingOpener: opener({ 'disk.img.redolog': log(), 'disk.img': base }),
      }),
    ).toBe('ok');
  });

  it('header fields at their boundaries are the growing checks, in Bochs and QEMU words', async () => {
    const bad = buildBochsImage({ diskSize: 1n << 60n, subtype: 'Undoable', catalogSize: 0x100001 });
    expect(await open(bad, { 'disk.img': base })).toBe('EFORMAT: Catalog size is too large');
    const badType = log();
    badType[0x20] = 0x41;
    expect(await exercise(badType, { format: 'bochs-redolog' })).toBe('EFORMAT: redolog : Bad header type or subtype');
    const badVersion = log();
    badVersion[0x42] = 3;
    expect(await exercise(badVersion, { format: 'bochs-redolog' })).toBe('EFORMAT: redolog : Bad header version');
  });
});

describe('fuzzed bochs-sparse and bochs-redolog images', () => {
  const u32 = fc.oneof(
    fc.constantFrom(0, 1, 255, 256, 511, 512, 513, 4096, 32768, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff),
    fc.nat({ max: 0xffffffff }),
  );
  const mutations = fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('u32' as const), at: fc.nat({ max: 600 }), value: u32 }),
      fc.record({ kind: fc.constant('byte' as const), at: fc.nat({ max: 70000 }), value: fc.nat({ max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat({ max: 70000 }), value: fc.constant(0) }),
    ),
    { maxLength: 4 },
  );
  const apply = (image: Uint8Array, list: Array<{ kind: string; at: number; value: number }>) => {
    let bytes = image.slice();
    for (const { kind, at, value } of list) {
      if (kind === 'cut') bytes = bytes.subarray(0, Math.min(at, bytes.length));
      else if (kind === 'byte' && at < bytes.length) bytes[at] = value;
      else if (kind === 'u32' && at + 4 <= bytes.length)
        new DataView(bytes.buffer, bytes.byteOffset).setUint32(at & ~3, value, true);
    }
    return bytes;
  };

  /** Every outcome typed; every read bounded: at most the table at open, then at most a padded request. */
  async function bounded(bytes: Uint8Array, options: Parameters<Registry['open']>[1]): Promise<void> {
    const source = new BoundedSource(bytes);
    source.bound = MAX_TABLE_READ;
    const result = await outcome(async () => {
      const device = await registry.open(source, options);
      try {
        const size = device.virtualSize;
        for (const at of [0, Math.floor(size / 3 / 512) * 512, Math.max(0, size - 8192)]) {
          const length = Math.min(8192, size - at);
          // A read's own reads: the request padded to its pages, for pages of at most 2^31.
          source.bound = Math.max(MAX_TABLE_READ, length + 2 * 512);
          await device.read(at, length);
        }
        await device.blockStatus(0, Math.min(size, 1 << 24));
      } finally {
        await device.close();
      }
    });
    expect(typeof result).toBe('string');
  }

  it('sparse: only typed errors, bounded reads', async () => {
    const valid = fc.record({
      pageShift: fc.integer({ min: 9, max: 16 }),
      pages: fc.integer({ min: 0, max: 12 }),
      written: fc.array(fc.nat({ max: 11 }), { maxLength: 6 }),
    });
    await fc.assert(
      fc.asyncProperty(valid, mutations, async (p, list) => {
        const pageSize = 2 ** p.pageShift;
        const image = buildSparseImage({
          diskSize: p.pages * pageSize,
          pageSize,
          pages: [...new Set(p.written.filter((w) => w < p.pages))].map((page) => ({
            page,
            data: new Uint8Array(pageSize).fill(page + 1),
          })),
        });
        await bounded(apply(image, list), { format: 'bochs-sparse' });
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('redolog over a flat base: only typed errors, bounded reads', async () => {
    const base = new Uint8Array(1032192).fill(3);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: 2015 }), { maxLength: 8 }), mutations, async (written, list) => {
        const image = buildBochsImage({
          diskSize: 1032192,
          subtype: 'Undoable',
          writes: [...new Set(written)].map((s) => ({
            offset: s * 512,
            data: new Uint8Array(512).fill((s % 250) + 1),
          })),
        });
        await bounded(apply(image, list), {
          format: 'bochs-redolog',
          filename: 'disk.img.redolog',
          options: { 'base-format': 'raw' },
          backingOpener: opener({ 'disk.img': base }),
        });
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
