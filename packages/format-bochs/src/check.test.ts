import { MemorySource, Registry } from '@vdisk/core';
import { PowerLossSource } from '@vdisk/core/testing';
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

  it('reports an orphan slot and a slot cut short at the end as leaks', async () => {
    const orphaned = new Uint8Array(twoSlots().length + 4608 + 1000);
    orphaned.set(twoSlots());
    const { problems } = await check(orphaned);
    expect(problems).toEqual([
      { kind: 'leak', message: 'Slot 2 is not used by any extent' },
      { kind: 'leak', message: 'The last 1000 bytes of the file are part of slot 3, which no extent uses' },
    ]);
  });
});

describe('Bochs check -r leaks', () => {
  const driver = new BochsDriver();

  async function repair(bytes: Uint8Array) {
    const source = new PowerLossSource(bytes, { maxDelay: 0 });
    const image = await driver.open(source, { writable: true, options: {} });
    const report = await driver.check(image, { repair: 'leaks' });
    return { source, report, image };
  }

  it('cuts the orphan slots at the end of the file, and reports nothing left', async () => {
    const clean = twoSlots();
    const orphaned = new Uint8Array(clean.length + 2 * 4608 + 100).fill(0x55);
    orphaned.set(clean);
    const { source, report } = await repair(orphaned);
    expect(report).toEqual({ problems: [], repaired: { corruptions: 0, leaks: 3 } });
    expect(source.bytes()).toEqual(clean);
  });

  it('leaves a leak in the middle, reported, and cuts nothing when the end is clean', async () => {
    const middle = setEntry(twoSlots(), 0, 0xffffffff); // slot 0 no longer used; slot 1 is
    const { source, report } = await repair(middle);
    expect(report).toEqual({
      problems: [{ kind: 'leak', message: 'Slot 0 is not used by any extent' }],
      repaired: { corruptions: 0, leaks: 0 },
    });
    expect(source.operations).toEqual([]);
  });

  it('never cuts a catalog short or a slot an entry points past the end', async () => {
    const short = twoSlots().slice(0, 2000); // the catalog itself is cut
    const cut = await repair(short);
    expect(cut.source.operations).toEqual([]);
    expect(cut.report.problems.some((p) => p.kind === 'corruption')).toBe(true);
    const pastEnd = setEntry(twoSlots(), 5, 40);
    const far = await repair(pastEnd);
    expect(far.source.operations).toEqual([]);
  });
});
