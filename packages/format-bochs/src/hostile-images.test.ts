import { createHash } from 'node:crypto';
import { MemorySource, Registry, VdiskError } from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { HOSTILE_IMAGES } from './testing/index.js';

// The hostile corpus against the library: vdisk does what qemu-img 7.2 did with each image
// (recorded in the table), or differs where the table says why.

const registry = new Registry([new BochsDriver()]);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** 'ok', or the code of the VdiskError; anything else fails the test. */
async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (error) {
    if (!(error instanceof VdiskError)) throw error;
    expect(error.message).not.toContain('\n');
    return error.code;
  }
}

describe('hostile Bochs images', () => {
  it('have unique names', () => {
    const names = HOSTILE_IMAGES.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
  });

  for (const c of HOSTILE_IMAGES) {
    it(`${c.name}: ${c.what}`, async () => {
      const bytes = c.bytes();
      const sector = new Uint8Array(512);
      sector.set(bytes.subarray(0, 512));
      expect(new BochsDriver().probe(sector)).toBe(c.qemu.probe === 'bochs' ? 100 : 0);

      const opening = registry.open(new MemorySource(bytes), { format: 'bochs' });
      if (typeof c.qemu.open === 'string') {
        await expect(opening).rejects.toSatisfy(
          (error) => error instanceof VdiskError && error.code === 'EFORMAT' && error.message === c.qemu.open,
        );
        expect(c.check).toBeUndefined();
        return;
      }
      const device = await opening;
      try {
        expect(device.virtualSize).toBe(c.qemu.open);
        const read = c.vdisk?.read ?? c.qemu.read;
        // A difference in QEMU's error text alone still needs the table to say what vdisk does.
        expect(read === 'ok' || /^E[A-Z]+$/.test(read ?? ''), `${c.name} needs vdisk.read`).toBe(true);
        expect(await outcome(() => device.read(0, 512))).toBe(read);

        const convert = c.vdisk?.convert ?? c.qemu.convert;
        if (convert !== undefined) {
          let whole: Uint8Array | undefined;
          const result = await outcome(async () => {
            whole = await device.read(0, device.virtualSize);
          });
          expect(result === 'ok' ? sha256(whole as Uint8Array) : result).toBe(convert);
        }

        const report = await device.check();
        const kinds = new Set(report.problems.map((p) => p.kind));
        const kind = kinds.has('corruption') ? 'corruption' : kinds.has('leak') ? 'leaks' : 'clean';
        expect(kind).toBe(c.check);
      } finally {
        await device.close();
      }
    });
  }
});
