import { MemorySource, Registry } from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { MAX_LISTED_PROBLEMS } from './check.js';
import { buildBochsImage, EMPTY_BOCHS_SPEC } from './testing/index.js';

const registry = new Registry([new BochsDriver()]);

async function check(bytes: Uint8Array) {
  const device = await registry.open(new MemorySource(bytes), { format: 'bochs' });
  try {
    return await device.check();
  } finally {
    await device.close();
  }
}

function setEntry(image: Uint8Array, index: number, slot: number): Uint8Array {
  new DataView(image.buffer).setUint32(512 + 4 * index, slot, true);
  return image;
}

const sector = new Uint8Array(512).fill(1);
/** Two extents written: entries 0 and 1 point to slots 0 and 1 (slots of 4608 bytes from 2560). */
const twoSlots = () =>
  buildBochsImage({
    ...EMPTY_BOCHS_SPEC,
    writes: [
      { offset: 0, data: sector },
      { offset: 4096, data: sector },
    ],
  });

describe('Bochs check', () => {
  it('finds nothing wrong with a consistent image', async () => {
    expect(await check(twoSlots())).toEqual({ problems: [] });
  });

  it('reports two extents in one slot as corruption, and the slot left over as a leak', async () => {
    const { problems } = await check(setEntry(twoSlots(), 1, 0));
    expect(problems).toEqual([
      { kind: 'corruption', extent: 1, message: 'Extent 1 shares slot 0 with extent 0' },
      { kind: 'leak', message: 'Slot 1 is not used by any extent' },
    ]);
  });

  it('names the first owner of a slot shared three ways', async () => {
    const image = setEntry(setEntry(twoSlots(), 7, 1), 3, 1);
    const { problems } = await check(image);
    expect(problems.map((p) => p.message)).toEqual([
      'Extent 3 shares slot 1 with extent 1',
      'Extent 7 shares slot 1 with extent 1',
    ]);
  });

  it('gives the exact offset of an entry past the end of the file', async () => {
    const { problems } = await check(setEntry(twoSlots(), 1, 0xfffffffe));
    // 2560 + 0xfffffffe * 4608 = 2560 + 2^32 * 4608 - 2 * 4608 = 2560 + 19791209299968 - 9216.
    expect(problems).toContainEqual({
      kind: 'corruption',
      extent: 1,
      message: 'Extent 1 points to slot 4294967294 at offset 19791209293312, past the end of the file (11776 bytes)',
    });
  });

  it('lists at most MAX_LISTED_PROBLEMS and counts the rest, for a file that claims a million bad entries', async () => {
    // 512 bytes claiming 0x100000 entries: the catalog reads as zeros, so every entry points
    // to slot 0 past the end. 1 cut-short catalog + 0x100000 past the end + 0xfffff shared.
    const header = buildBochsImage({ diskSize: 0, catalogSize: 0x100000, bitmapSize: 1, extentSize: 4096 }).slice(
      0,
      512,
    );
    const report = await check(header);
    expect(report.problems).toHaveLength(MAX_LISTED_PROBLEMS);
    expect(MAX_LISTED_PROBLEMS + (report.omitted?.corruptions ?? 0)).toBe(1 + 0x100000 + 0xfffff);
    expect(report.omitted?.leaks).toBe(0);
  });
});
