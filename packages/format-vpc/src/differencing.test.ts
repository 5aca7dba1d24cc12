import { checkCrashSafety } from '@vdisk/conformance';
import {
  allocationMap,
  BackingChainError,
  type BackingOpener,
  type BlockDevice,
  type BlockDriver,
  type MapRun,
  MemorySource,
  Registry,
  VdiskError,
} from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import {
  type CraftedImage,
  craftImage,
  dynamicDisk,
  mergedDisk,
  sectorPattern,
  utf16,
} from './differencing-image.fixture.js';
import { VpcDriver } from './vpc-driver.js';

const KiB = 1024;
const BLOCK = 64 * KiB;
const SECTORS_PER_BLOCK = BLOCK / 512;
/** Five whole blocks and a short sixth. */
const SIZE = 5 * BLOCK + 8 * KiB;

const driver = new VpcDriver();
const registry = new Registry([driver]);

const parentUuid = new Uint8Array(16).map((_, i) => 0x10 + i);
const childUuid = new Uint8Array(16).map((_, i) => 0xa0 + i);

/** The parent: a dynamic VHD with data in blocks 0, 1 and 3 (block 3 whole: its filler shows), 2, 4, 5 unallocated. */
const parent: CraftedImage = {
  virtualSize: SIZE,
  blockSize: BLOCK,
  diskType: 3,
  uuid: parentUuid,
  filler: 0x5a,
  sectors: [0, 1, 2, 50, 127, 128, 129, 200, 3 * SECTORS_PER_BLOCK + 5].map((sector) => ({
    sector,
    data: sectorPattern(sector, 1),
  })),
};
const parentFile = craftImage(parent);
const parentDisk = dynamicDisk(parent);

/** A child naming its parent by a W2ru locator, with its own sectors in blocks 0 and 2 (unallocated in the parent), block 1 allocated but empty. */
function child(extra: Partial<CraftedImage> = {}): CraftedImage {
  return {
    virtualSize: SIZE,
    blockSize: BLOCK,
    diskType: 4,
    uuid: childUuid,
    parentUuid,
    parentTimestamp: 12345,
    parentName: 'parent.vhd',
    locators: [{ code: 'W2ru', data: utf16('.\\parent.vhd', true) }],
    sectors: [1, 2, 3, 64, 2 * SECTORS_PER_BLOCK, 2 * SECTORS_PER_BLOCK + 127, 5 * SECTORS_PER_BLOCK + 15].map(
      (sector) => ({ sector, data: sectorPattern(sector, 2) }),
    ),
    emptyBlocks: [1],
    ...extra,
  };
}

/** Files by name; names are what the image gives, so the test sees exactly what the driver asked for. */
function opener(files: Record<string, Uint8Array>, asked: string[] = []): BackingOpener {
  return {
    identity: 'child.vhd',
    async open(reference) {
      asked.push(reference.filename);
      const bytes = files[reference.filename];
      if (!bytes) throw new VdiskError('EIO', 'No such file or directory');
      return { source: new MemorySource(bytes), filename: reference.filename, identity: reference.filename };
    },
  };
}

async function openChild(bytes: Uint8Array, writable = false, files = { 'parent.vhd': parentFile }) {
  const source = new MemorySource(bytes);
  const device = await registry.open(source, { format: 'vpc', writable, backingOpener: opener(files) });
  return { source, device };
}

async function mapOf(device: BlockDevice): Promise<MapRun[]> {
  const runs: MapRun[] = [];
  for await (const run of allocationMap(device)) runs.push(run);
  return runs;
}

/** What qemu-img map says of each sector of a chain: `depth present zero data`. */
function sectorKinds(runs: MapRun[]): string[] {
  const kinds: string[] = [];
  for (const run of runs) {
    for (let s = 0; s < run.length / 512; s++) kinds.push(`${run.depth} ${run.present} ${run.zero} ${run.data}`);
  }
  return kinds;
}

async function openError(promise: Promise<unknown>): Promise<VdiskError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(VdiskError);
    return error as VdiskError;
  }
  throw new Error('did not fail');
}

describe('vpc differencing disks (type 4), crafted from the spec', () => {
  it("reads its own sectors where their bit is set, the parent's elsewhere (a block with BAT 0xFFFFFFFF wholly)", async () => {
    const image = child();
    const { device } = await openChild(craftImage(image));
    expect(device.backing?.filename).toBe('parent.vhd');
    expect(device.backing?.device.format).toBe('vpc');
    const disk = await device.read(0, SIZE);
    expect(Buffer.from(disk).equals(Buffer.from(mergedDisk(image, parentDisk)))).toBe(true);
    // The filler of the child's blocks (sectors of 0xee) never shows: clear bits read the parent.
    for (let at = 0; at < SIZE; at += 512) expect(disk.subarray(at, at + 512).every((b) => b === 0xee)).toBe(false);
    await device.close();
  });

  it("maps each sector as qemu-img map does for a chain: the child's at depth 0, the rest at the parent's depth 1", async () => {
    const image = child();
    const { device } = await openChild(craftImage(image));
    const own = new Set(image.sectors.map((s) => s.sector));
    const parentBlocks = new Set(parent.sectors.map((s) => Math.floor(s.sector / SECTORS_PER_BLOCK)));
    const expected: string[] = [];
    for (let s = 0; s < SIZE / 512; s++) {
      if (own.has(s)) expected.push('0 true false true');
      else if (parentBlocks.has(Math.floor(s / SECTORS_PER_BLOCK))) expected.push('1 true false true');
      // A hole of the parent, a VHD: present and zero, as qemu-img maps a VHD's hole.
      else expected.push('1 true true false');
    }
    expect(sectorKinds(await mapOf(device))).toEqual(expected);
    await device.close();
  });

  it('names the parent by W2ru, then W2ku, then MacX, then the unicode name', async () => {
    const named = async (image: CraftedImage) => {
      const asked: string[] = [];
      await registry
        .open(new MemorySource(craftImage(image)), { format: 'vpc', backingOpener: opener({}, asked) })
        .catch(() => {});
      return asked[0];
    };
    const locators = {
      W2ru: { code: 'W2ru', data: utf16('..\\disks\\base.vhd', true) },
      W2ku: { code: 'W2ku', data: utf16('C:\\VMs\\base.vhd\0', true) },
      MacX: { code: 'MacX', data: new TextEncoder().encode('file://localhost/Users/me/my%20base.vhd') },
    };
    expect(await named(child({ locators: [locators.MacX, locators.W2ku, locators.W2ru] }))).toBe('../disks/base.vhd');
    expect(await named(child({ locators: [locators.MacX, locators.W2ku] }))).toBe('C:/VMs/base.vhd');
    expect(await named(child({ locators: [locators.MacX] }))).toBe('/Users/me/my base.vhd');
    expect(await named(child({ locators: [] }))).toBe('parent.vhd');
    const error = await openError(
      registry.open(new MemorySource(craftImage(child({ locators: [], parentName: '' }))), {
        format: 'vpc',
        backingOpener: opener({}),
      }),
    );
    expect(error.message).toBe('Differencing VHD does not name its parent');
  });

  it('refuses hostile locators with a typed error before reading them', async () => {
    const bytes = craftImage(child());
    const patched = (patch: (view: DataView) => void) => {
      const copy = bytes.slice();
      patch(new DataView(copy.buffer, 512, 1024));
      return copy;
    };
    const cases: [Uint8Array, string][] = [
      [
        patched((v) => v.setBigUint64(576 + 16, BigInt(bytes.length))),
        'Parent locator 0 (W2ru) lies past the end of the file',
      ],
      [
        patched((v) => v.setBigUint64(576 + 16, 0xffffffffffffffffn)),
        'Parent locator 0 (W2ru) lies past the end of the file',
      ],
      [patched((v) => v.setUint32(576 + 8, 0xffffffff)), 'Parent locator 0 (W2ru) is too long: 4294967295 bytes'],
      [
        patched((v) => {
          v.setUint32(576 + 24, 0x01020304);
          v.setUint32(576 + 24 + 8, 4);
          v.setBigUint64(576 + 24 + 16, 1n << 62n);
        }),
        'Parent locator 1 (\\x01\\x02\\x03\\x04) lies past the end of the file',
      ],
    ];
    for (const [image, message] of cases) {
      const error = await openError(
        registry.open(new MemorySource(image), { format: 'vpc', backingOpener: opener({}) }),
      );
      expect(error.message).toBe(message);
    }
  });

  it("stops a chain that loops back to itself (core's loop check), and one too deep", async () => {
    const self = craftImage(child({ locators: [{ code: 'W2ru', data: utf16('.\\child.vhd', true) }] }));
    const error = await openError(
      registry.open(new MemorySource(self), { format: 'vpc', backingOpener: opener({ 'child.vhd': self }) }),
    );
    expect(error).toBeInstanceOf(BackingChainError);
    expect(error.message).toContain('would make a loop');
    // Two images naming each other.
    const a = craftImage(child({ locators: [{ code: 'W2ru', data: utf16('b.vhd', true) }] }));
    const b = craftImage(child({ locators: [{ code: 'W2ru', data: utf16('a.vhd', true) }] }));
    const files = { 'a.vhd': a, 'b.vhd': b };
    const loop = await openError(
      registry.open(new MemorySource(a), { format: 'vpc', backingOpener: { ...opener(files), identity: 'a.vhd' } }),
    );
    expect(loop).toBeInstanceOf(BackingChainError);
    // A chain of distinct names, each naming the next: core's depth limit.
    const deep: Record<string, Uint8Array> = {};
    for (let i = 0; i < 20; i++)
      deep[`d${i}.vhd`] = craftImage(child({ locators: [{ code: 'W2ru', data: utf16(`d${i + 1}.vhd`, true) }] }));
    const tooDeep = await openError(
      registry.open(new MemorySource(deep['d0.vhd'] as Uint8Array), {
        format: 'vpc',
        backingOpener: { ...opener(deep), identity: 'd0.vhd' },
      }),
    );
    expect(tooDeep).toBeInstanceOf(BackingChainError);
    expect(tooDeep.message).toContain('longer than');
  });

  it('refuses a parent whose unique id is not the one the child records (an id of zeros is not checked)', async () => {
    const wrong = craftImage(child({ parentUuid: new Uint8Array(16).fill(0x77) }));
    const error = await openError(openChild(wrong));
    expect(error.message).toBe(
      "Parent 'parent.vhd' is not the image this differencing VHD was made from: its unique id 101112131415161718191a1b1c1d1e1f is not 77777777777777777777777777777777",
    );
    const { device } = await openChild(craftImage(child({ parentUuid: new Uint8Array(16) })));
    await device.close();
  });

  it('writes: data, then a barrier, then the bits; new blocks carry their bits; unaligned writes merge the parent', async () => {
    const image = child();
    const { source, device } = await openChild(craftImage(image), true);
    const model = mergedDisk(image, parentDisk);
    const writes: [number, number, number][] = [
      [512 * 4, 1024, 0x31], // block 0, allocated: two clear bits set
      [BLOCK + 512 * 10, 512 * 3, 0x32], // block 1, allocated with every bit clear
      [3 * BLOCK + 512 * 7, 512, 0x33], // block 3: the child has none, the parent has it whole
      [4 * BLOCK - 512, 1024, 0x34], // across blocks 3 and 4
      [5 * BLOCK + 100, 50, 0x35], // unaligned: core reads the sector (the parent's) around it
    ];
    for (const [offset, length, value] of writes) {
      const data = new Uint8Array(length).fill(value);
      await device.write(offset, data);
      model.set(data, offset);
    }
    expect(Buffer.from(await device.read(0, SIZE)).equals(Buffer.from(model))).toBe(true);
    await device.close();
    // Reopened from the bytes: the bits are in the file.
    const again = await openChild(source.bytes.slice());
    expect(Buffer.from(await again.device.read(0, SIZE)).equals(Buffer.from(model))).toBe(true);
    const kinds = sectorKinds(await mapOf(again.device));
    expect(kinds[4]).toBe('0 true false true');
    expect(kinds[6]).toBe('1 true false true'); // the parent's, still
    expect(kinds[SECTORS_PER_BLOCK + 12]).toBe('0 true false true');
    expect(kinds[SECTORS_PER_BLOCK + 13]).toBe('1 true false true');
    expect(kinds[3 * SECTORS_PER_BLOCK + 6]).toBe('1 true false true');
    expect(kinds[3 * SECTORS_PER_BLOCK + 7]).toBe('0 true false true');
    expect(kinds[4 * SECTORS_PER_BLOCK + 1]).toBe('1 true true false');
    await again.device.close();
  });

  it("reads as zeros after zeroing or discarding, never as the parent's bytes", async () => {
    const image = child();
    const { source, device } = await openChild(craftImage(image), true);
    const model = mergedDisk(image, parentDisk);
    await device.writeZeroes(0, BLOCK + 4096, { mayUnmap: true }); // parent data in blocks 0 and 1
    model.fill(0, 0, BLOCK + 4096);
    await device.discard(3 * BLOCK, BLOCK); // the parent's whole block 3
    model.fill(0, 3 * BLOCK, 4 * BLOCK);
    await device.writeZeroes(5 * BLOCK + 1000, 300); // unaligned, in the short last block
    model.fill(0, 5 * BLOCK + 1000, 5 * BLOCK + 1300);
    expect(Buffer.from(await device.read(0, SIZE)).equals(Buffer.from(model))).toBe(true);
    await device.close();
    const again = await openChild(source.bytes.slice());
    expect(Buffer.from(await again.device.read(0, SIZE)).equals(Buffer.from(model))).toBe(true);
    await again.device.close();
  });

  it('is crash safe over a parent: every power-loss state reads flushed or later data, else the parent', async () => {
    const base = craftImage({ ...parent, blockSize: 2 * 1024 * KiB, virtualSize: 5 * 1024 * KiB });
    const result = await checkCrashSafety({
      driver,
      virtualSize: 5 * 1024 * KiB,
      parent: base,
      operations: 20,
      maxSectors: 64,
      seed: 5,
    });
    expect(result.states).toBeGreaterThan(50);
  }, 60_000);

  it("creates a child over an open base: type 4, the parent footer's unique id and time stamp, its name, W2ru and W2ku", async () => {
    const base = await registry.open(new MemorySource(parentFile), { format: 'vpc' });
    const target = new MemorySource();
    await registry.create('vpc', target, {
      virtualSize: base.virtualSize,
      options: { base: 'disks/parent.vhd' },
      backing: { device: base, filename: 'disks/parent.vhd', fullFilename: '/vm/disks/parent.vhd' },
    });
    await base.close();
    const bytes = target.bytes;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(v.getUint32(60)).toBe(4);
    expect(v.getBigUint64(48)).toBe(BigInt(SIZE));
    const header = bytes.subarray(512, 1536);
    expect(Buffer.from(header.subarray(0, 8)).toString('latin1')).toBe('cxsparse');
    expect(Array.from(header.subarray(40, 56))).toEqual(Array.from(parentUuid));
    expect(v.getUint32(512 + 56)).toBe(0x2a2a2a2a); // the crafted parent footer's time stamp
    expect(
      Buffer.from(header.subarray(64, 64 + 20))
        .swap16()
        .toString('utf16le'),
    ).toBe('parent.vhd');
    const locator = (i: number) => {
      const at = 512 + 576 + i * 24;
      const length = v.getUint32(at + 8);
      const offset = Number(v.getBigUint64(at + 16));
      return {
        code: Buffer.from(bytes.subarray(at, at + 4)).toString('latin1'),
        space: v.getUint32(at + 4),
        text: Buffer.from(bytes.subarray(offset, offset + length)).toString('utf16le'),
        offset,
      };
    };
    expect(locator(0)).toEqual({ code: 'W2ru', space: 1, text: '.\\disks\\parent.vhd', offset: 1536 });
    expect(locator(1)).toEqual({ code: 'W2ku', space: 1, text: '/vm/disks/parent.vhd', offset: 2048 });
    expect(v.getUint32(512 + 576 + 48)).toBe(0);
    // The BAT follows the locators' data, so a writer that ignores locators cannot overwrite them.
    expect(Number(v.getBigUint64(512 + 16))).toBe(2560);
    const asked: string[] = [];
    const device = await registry.open(new MemorySource(bytes), {
      format: 'vpc',
      backingOpener: {
        async open(reference) {
          asked.push(reference.filename);
          return { source: new MemorySource(parentFile), filename: reference.filename, identity: 'p' };
        },
      },
    });
    expect(asked).toEqual(['disks/parent.vhd']);
    expect(Buffer.from(await device.read(0, SIZE)).equals(Buffer.from(parentDisk))).toBe(true);
    await device.close();
  });

  it('refuses a differencing VHD over a base that is not a VHD, a fixed one, and a base it cannot see', async () => {
    const flat: BlockDriver = {
      name: 'flat',
      probe: () => 0,
      async open(source) {
        return {
          virtualSize: source.size,
          requestAlignment: 512,
          readv: async () => {},
          close: async () => {},
        };
      },
    };
    const both = new Registry([driver, flat]);
    const base = await both.open(new MemorySource(new Uint8Array(SIZE)), { format: 'flat' });
    const backing = { device: base, filename: 'flat.img' };
    await expect(both.create('vpc', new MemorySource(), { virtualSize: SIZE, options: {}, backing })).rejects.toThrow(
      'The base of a differencing VHD must be a VHD image, not flat',
    );
    await expect(
      both.create('vpc', new MemorySource(), { virtualSize: SIZE, options: { subformat: 'fixed' }, backing }),
    ).rejects.toThrow('A differencing VHD cannot be fixed (subformat=fixed)');
    await expect(
      both.create('vpc', new MemorySource(), { virtualSize: SIZE, options: { base: 'x.vhd' } }),
    ).rejects.toThrow('A differencing VHD needs its base open');
    await base.close();
  });
});
