import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-check-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const DISK = 1032192; // 252 extents of 4 KiB; catalog 512 entries at 512; slots of 4608 bytes from 2560
const CATALOG = 512;
const sectors = (count: number, byte: number) => new Uint8Array(count * 512).fill(byte);

/** Three allocated extents (0, 1, 7) in slots 0, 1, 2. */
const healthy = () =>
  buildBochsImage({
    diskSize: DISK,
    writes: [
      { offset: 0, data: sectors(2, 1) },
      { offset: 4096, data: sectors(8, 2) },
      { offset: 7 * 4096 + 512, data: sectors(1, 3) },
    ],
  });

function setEntry(image: Uint8Array, extent: number, slot: number): Uint8Array {
  new DataView(image.buffer, image.byteOffset).setUint32(CATALOG + 4 * extent, slot, true);
  return image;
}

async function check(name: string, image: Uint8Array, ...args: string[]) {
  const file = join(dir, name);
  await writeFile(file, image);
  const human = await runVdisk(['check', ...args, file]);
  const json = await runVdisk(['check', '--output=json', ...args, file]);
  return { file, human, json, report: json.stdout ? JSON.parse(json.stdout) : undefined };
}

describe('vdisk check', () => {
  it('exits 0 on a consistent image', async () => {
    const { human, json, report, file } = await check('healthy.bochs', healthy());
    expect(human.code).toBe(0);
    expect(human.stdout).toBe('No errors were found on the image.\n');
    expect(json.code).toBe(0);
    expect(report).toEqual({
      filename: file,
      format: 'bochs',
      'check-errors': 0,
      corruptions: 0,
      leaks: 0,
      problems: [],
    });
  });

  it('exits 2 for a catalog entry that points past the end of the file', async () => {
    const { human, report } = await check('past-eof.bochs', setEntry(healthy(), 7, 40));
    expect(human.code).toBe(2);
    expect(report.corruptions).toBe(1);
    const message = `Extent 7 points to slot 40 at offset ${2560 + 40 * 4608}, past the end of the file (${2560 + 3 * 4608} bytes)`;
    expect(report.problems).toContainEqual({ kind: 'corruption', extent: 7, message });
    expect(human.stdout.split('\n')).toContain(`ERROR: ${message}`);
    expect(human.stdout).toContain('1 errors were found on the image.');
    // Slot 2 lost its only entry: that is a leak too, but corruption decides the code.
    expect(report.leaks).toBe(1);
  });

  it('exits 2 for an entry whose slot is cut short by the end of the file', async () => {
    const image = healthy();
    const { human, report } = await check('cut-slot.bochs', image.subarray(0, image.length - 100));
    expect(human.code).toBe(2);
    expect(report.problems).toContainEqual({
      kind: 'corruption',
      extent: 7,
      message: `Extent 7 points to slot 2 at offset ${2560 + 2 * 4608}, runs past the end of the file (${image.length - 100} bytes)`,
    });
  });

  it('exits 2 for two entries that share a slot', async () => {
    const { human, report } = await check('shared.bochs', setEntry(healthy(), 9, 1));
    expect(human.code).toBe(2);
    expect(report.problems).toEqual([
      { kind: 'corruption', extent: 9, message: 'Extent 9 shares slot 1 with extent 1' },
    ]);
  });

  it('exits 3 for a slot that no entry points to (a leak) and nothing worse', async () => {
    const { human, report } = await check('leak.bochs', setEntry(healthy(), 1, 0xffffffff));
    expect(human.code).toBe(3);
    expect(report).toMatchObject({ corruptions: 0, leaks: 1 });
    expect(report.problems).toEqual([{ kind: 'leak', message: 'Slot 1 is not used by any extent' }]);
    expect(human.stdout).toContain(
      '1 leaked extents were found on the image.\nThis means waste of disk space, but no harm to data.\n',
    );
  });

  it('exits 2 for a bitmap too small to cover its extent', async () => {
    // 8 KiB extents have 16 sectors: their bitmap needs 2 bytes, not 1.
    const image = buildBochsImage({ diskSize: DISK, catalogSize: 512, bitmapSize: 1, extentSize: 8192 });
    const { human, report } = await check('small-bitmap.bochs', image);
    expect(human.code).toBe(2);
    expect(report.problems).toEqual([
      { kind: 'corruption', message: 'Bitmap of 1 bytes cannot cover an extent of 16 sectors' },
    ]);
  });

  it('exits 2 for a catalog cut short by the end of the file', async () => {
    const image = healthy().subarray(0, CATALOG + 4 * 100);
    const { human, report } = await check('short-catalog.bochs', image);
    expect(human.code).toBe(2);
    expect(report.problems[0]).toEqual({
      kind: 'corruption',
      message: `Catalog of 512 entries at offset 512 is cut short by the end of the file (${CATALOG + 400} bytes)`,
    });
  });

  it('exits 63 for a format without a check', async () => {
    const { human, json } = await check('plain.raw', new Uint8Array(4096), '-f', 'raw');
    expect(human.code).toBe(63);
    expect(json.code).toBe(63);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(/: This image format \(raw\) does not support checks\n$/);
  });

  it('exits 1 when the check cannot complete', async () => {
    const missing = await runVdisk(['check', join(dir, 'missing.bochs')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`vdisk: ${join(dir, 'missing.bochs')}: No such file or directory\n`);
    const { human } = await check('not-bochs.img', new Uint8Array(4096), '-f', 'bochs');
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(/: Image not in Bochs format\n$/);
  });
});
