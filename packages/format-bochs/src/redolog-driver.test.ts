import {
  allocationMap,
  type BackingOpener,
  type BlockDevice,
  type MapRun,
  MemorySource,
  Registry,
  VdiskError,
} from '@vdisk/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { rawStandIn } from './raw-stand-in.fixture.js';
import { BochsRedologDriver, baseByBochsRule } from './redolog-driver.js';
import { fatTimestamp, formatFatTimestamp } from './redolog-header.js';
import { BochsSparseDriver } from './sparse-driver.js';
import { buildBochsImage } from './testing/image-builder.js';

const DISK = 1032192; // 4 KiB extents: 252 of them
const filled = (length: number, value: number) => new Uint8Array(length).fill(value);

const registry = new Registry([rawStandIn, new BochsDriver(), new BochsSparseDriver(), new BochsRedologDriver()]);

/** A flat base of a pattern: byte i is (i >> 9) & 0xff, so each sector names itself. */
const flatBase = () => new Uint8Array(DISK).map((_, i) => ((i >> 9) & 0xff) | 1);

/** Files by name; a source's modifiedTime is `mtimes[name]` when given. */
function opener(files: Record<string, Uint8Array>, mtimes: Record<string, Date> = {}): BackingOpener {
  return {
    identity: 'top',
    async open(reference) {
      const bytes = files[reference.filename];
      if (!bytes) throw new VdiskError('EIO', 'No such file or directory');
      const source = new MemorySource(bytes);
      const mtime = mtimes[reference.filename];
      if (mtime) Object.assign(source, { modifiedTime: async () => mtime });
      return { source, filename: `dir/${reference.filename}`, identity: reference.filename };
    },
  };
}

function redolog(extra: { timestamp?: number; diskSize?: number; subtype?: string } = {}): Uint8Array {
  return buildBochsImage({
    diskSize: extra.diskSize ?? DISK,
    subtype: extra.subtype ?? 'Undoable',
    timestamp: extra.timestamp ?? 0,
    writes: [
      { offset: 4096, data: filled(1024, 0xaa) },
      { offset: 512 * 100, data: filled(512, 0xbb) },
    ],
  });
}

async function mapOf(device: BlockDevice): Promise<MapRun[]> {
  const runs: MapRun[] = [];
  for await (const run of allocationMap(device)) runs.push(run);
  return runs;
}

describe('bochs-redolog', () => {
  const savedTz = process.env.TZ;
  beforeAll(() => {
    process.env.TZ = 'Europe/Berlin';
  });
  afterAll(() => {
    process.env.TZ = savedTz;
  });

  it('probes 100 for Undoable and Volatile; -f bochs stays QEMU and refuses them', async () => {
    const driver = new BochsRedologDriver();
    expect(driver.probe(redolog().subarray(0, 512))).toBe(100);
    expect(driver.probe(redolog({ subtype: 'Volatile' }).subarray(0, 512))).toBe(100);
    expect(driver.probe(redolog({ subtype: 'Growing' }).subarray(0, 512))).toBe(0);
    expect(new BochsDriver().probe(redolog().subarray(0, 512))).toBe(0);
    await expect(registry.open(new MemorySource(redolog()), { format: 'bochs' })).rejects.toThrow(
      'Image not in Bochs format',
    );
  });

  it('reads a sector from the redolog when its bit is set, else from the base found by Bochs rule', async () => {
    const base = flatBase();
    const warnings: string[] = [];
    const device = await registry.open(new MemorySource(redolog()), {
      filename: 'dir/disk.img.redolog',
      backingOpener: opener({ 'disk.img': base }),
      onWarning: (message) => warnings.push(message),
    });
    expect(device.format).toBe('bochs-redolog');
    expect(device.backing?.filename).toBe('disk.img');
    expect(device.backing?.device.format).toBe('raw');
    expect(warnings).toEqual(["WARNING: Image format was not specified for 'dir/disk.img' and probing guessed raw."]);
    const expected = base.slice();
    expected.fill(0xaa, 4096, 5120);
    expected.fill(0xbb, 51200, 51712);
    const bytes = await device.read(0, DISK);
    expect(Buffer.from(bytes).equals(expected)).toBe(true);
    // Unaligned, across the edge of a written run.
    expect([...(await device.read(5118, 4))]).toEqual([0xaa, 0xaa, expected[5120], expected[5121]]);
    const runs = await mapOf(device);
    expect(runs.slice(0, 3)).toEqual([
      { offset: 0, length: 4096, depth: 1, present: true, zero: false, data: true },
      { offset: 4096, length: 1024, depth: 0, present: true, zero: false, data: true, fileOffset: expect.any(Number) },
      { offset: 5120, length: 51200 - 5120, depth: 1, present: true, zero: false, data: true },
    ]);
    await device.close();
  });

  it('takes -o base=PATH as given and -o base-format=FMT, which silences the raw warning', async () => {
    const warnings: string[] = [];
    const device = await registry.open(new MemorySource(redolog()), {
      filename: 'elsewhere.log',
      options: { base: 'flat.bin', 'base-format': 'raw' },
      backingOpener: opener({ 'flat.bin': flatBase() }),
      onWarning: (message) => warnings.push(message),
    });
    expect(device.backing?.filename).toBe('flat.bin');
    expect(warnings).toEqual([]);
    await device.close();
    await expect(
      registry.open(new MemorySource(redolog()), { filename: 'x.log', backingOpener: opener({}) }),
    ).rejects.toThrow('The base image of a redolog is not known: name the redolog BASE.redolog, or give -o base=PATH');
    await expect(
      registry.open(new MemorySource(redolog()), { options: { force: 'on' }, backingOpener: opener({}) }),
    ).rejects.toThrow("Block format 'bochs-redolog' does not support the option 'force'");
  });

  it("checks coherency in Bochs's words: sizes, then a non-zero timestamp against the base's mtime", async () => {
    const mtime = new Date('2026-07-14T10:20:30Z'); // 12:20:30 in Berlin (summer time)
    const stamp = fatTimestamp(mtime);
    expect(formatFatTimestamp(stamp)).toBe('14.07.2026 12:20:30');
    const files = { 'disk.img': flatBase() };
    const open = (log: Uint8Array, options: Record<string, string> = {}, at = mtime) =>
      registry.open(new MemorySource(log), {
        filename: 'disk.img.redolog',
        options: { 'base-format': 'raw', ...options },
        backingOpener: opener(files, { 'disk.img': at }),
      });
    await (await open(redolog({ timestamp: stamp }))).close();
    await (await open(redolog({ timestamp: 0 }))).close(); // 0: not stamped yet, any base
    // One second later is the same FAT time (2-second resolution); two seconds is not.
    await (await open(redolog({ timestamp: stamp }), {}, new Date(mtime.getTime() + 1000))).close();
    await expect(open(redolog({ timestamp: stamp }), {}, new Date(mtime.getTime() + 2000))).rejects.toThrow(
      'unexpected modification time of the r/o disk (should be 14.07.2026 12:20:30)',
    );
    await expect(open(redolog({ diskSize: DISK * 2 }))).rejects.toThrow(
      "size reported by redolog doesn't match r/o disk size",
    );
    const off = await open(redolog({ diskSize: DISK * 2, timestamp: 1 }), { 'check-coherency': 'off' });
    expect(off.virtualSize).toBe(DISK * 2);
    // Past the base's end: zeros.
    expect((await off.read(DISK, 512)).every((b) => b === 0)).toBe(true);
    await off.close();
  });

  it('chains a redolog whose base is itself a redolog', async () => {
    const inner = buildBochsImage({
      diskSize: DISK,
      subtype: 'Undoable',
      writes: [{ offset: 0, data: filled(512, 0x11) }],
    });
    const device = await registry.open(new MemorySource(redolog()), {
      filename: 'disk.img.redolog.redolog',
      backingOpener: opener({ 'disk.img.redolog': inner, 'disk.img': flatBase() }),
    });
    const first = await device.read(0, 1024);
    expect(first.subarray(0, 512).every((b) => b === 0x11)).toBe(true);
    expect(first.subarray(512).every((b) => b === 1)).toBe(true);
    expect((await mapOf(device))[0]).toMatchObject({ offset: 0, length: 512, depth: 1, data: true });
    await device.close();
  });

  it('writes go to the redolog only, unaligned ones read-modify-write through the base, zeroing writes zeros', async () => {
    const base = flatBase();
    const pristine = base.slice();
    const bytes = new Uint8Array(0);
    const target = new MemorySource(bytes);
    await new BochsRedologDriver().create(target, { virtualSize: DISK, options: {} });
    const created = new Uint8Array(target.size);
    await target.read(created, 0);
    const source = new MemorySource(created);
    const device = await registry.open(source, {
      filename: 'disk.img.redolog',
      writable: true,
      options: { 'base-format': 'raw' },
      backingOpener: opener({ 'disk.img': base }),
    });
    await device.write(1000, new Uint8Array(100).fill(0xee)); // inside sector 1, across into 2
    await device.writeZeroes(4096, 1024);
    const expected = pristine.slice();
    expected.fill(0xee, 1000, 1100);
    expected.fill(0, 4096, 5120);
    expect(Buffer.from(await device.read(0, 8192)).equals(Buffer.from(expected.subarray(0, 8192)))).toBe(true);
    expect(Buffer.from(base).equals(Buffer.from(pristine))).toBe(true);
    const map = await mapOf(device);
    expect(map.slice(0, 4)).toMatchObject([
      { offset: 0, length: 512, depth: 1 },
      { offset: 512, length: 1024, depth: 0, data: true },
      { offset: 1536, length: 4096 - 1536, depth: 1 },
      { offset: 4096, length: 1024, depth: 0, data: true },
    ]);
    await device.close();
  });

  it("derives the base's name by Bochs's rule", () => {
    expect(baseByBochsRule('a/b/disk.img.redolog')).toBe('disk.img');
    expect(baseByBochsRule('disk.img')).toBeUndefined();
    expect(baseByBochsRule('.redolog')).toBeUndefined();
  });

  it('info and check', async () => {
    const device = await registry.open(new MemorySource(redolog({ timestamp: 0 })), {
      filename: 'disk.img.redolog',
      backingOpener: opener({ 'disk.img': flatBase() }),
    });
    expect(device.info()).toMatchObject({
      type: 'bochs-redolog',
      data: { subtype: 'Undoable', 'allocated-extents': 2, timestamp: 0 },
    });
    expect(await device.check()).toEqual({ problems: [] });
    await device.close();
  });
});
