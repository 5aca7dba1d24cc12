import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildImages, specsNamed } from './image-set.js';
import {
  bximageConvert,
  bximageCreate,
  describeInterop,
  makeScratchDir,
  qemuImgInfo,
  removeScratchDir,
  vdiskOk,
} from './peers.js';

const GUESSED_RAW = 'raw (score 1, guessed: no other format matched)';

describeInterop('vdisk probe of bximage images and other files', () => {
  let dir: string | undefined;
  /** Each file with the line `vdisk probe` must print after `FILE: ` (CONTRACT.md, "probe"). */
  const cases: { path: string; expected: string; format: string }[] = [];

  beforeAll(async () => {
    dir = await makeScratchDir();
    const images = await buildImages(dir, specsNamed('create-10M', 'holes-1M', 'pattern-2M'));
    for (const image of images) {
      cases.push({ path: image.path, expected: 'bochs (score 100)', format: 'bochs' });
      cases.push({ path: image.raw, expected: GUESSED_RAW, format: 'raw' });
    }
    const pattern = images.find((image) => image.name === 'pattern-2M');
    const flatCreated = await bximageCreate(join(dir, 'create-10M.flat'), '10M', 'flat');
    const flatConverted = await bximageConvert(pattern?.raw as string, join(dir, 'pattern-2M.flat'), 'flat');
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'not a disk image\n');
    const empty = join(dir, 'empty');
    await writeFile(empty, '');
    for (const path of [flatCreated, flatConverted, text, empty]) {
      cases.push({ path, expected: GUESSED_RAW, format: 'raw' });
    }
  });
  afterAll(() => removeScratchDir(dir));

  it('prints one line per file, in argument order', async () => {
    const output = await vdiskOk('probe', ...cases.map((c) => c.path));
    expect(output).toBe(cases.map((c) => `${c.path}: ${c.expected}\n`).join(''));
  });

  it('agrees with the format qemu-img info probes', async () => {
    for (const { path, format } of cases) {
      expect((await qemuImgInfo(path)).format, path).toBe(format);
    }
  });

  it('gives every driver score in JSON', async () => {
    const output = await vdiskOk('probe', '--output=json', ...cases.map((c) => c.path));
    const objects = output
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(objects.map((o) => o.filename)).toEqual(cases.map((c) => c.path));
    for (const [i, object] of objects.entries()) {
      const { path, format } = cases[i] as (typeof cases)[number];
      if (path.endsWith('empty')) {
        // A 0-byte file is raw without asking the other drivers (QEMU's block.c).
        expect(object).toEqual({ filename: path, format: 'raw', score: 1, scores: { raw: 1 }, guessed: true });
      } else if (format === 'bochs') {
        expect(object).toEqual({
          filename: path,
          format,
          score: 100,
          scores: { raw: 1, bochs: 100, 'bochs-sparse': 0, 'bochs-redolog': 0, vpc: 0, vdi: 0, vmdk: 0 },
          guessed: false,
        });
      } else {
        expect(object).toEqual({
          filename: path,
          format,
          score: 1,
          scores: { raw: 1, bochs: 0, 'bochs-sparse': 0, 'bochs-redolog': 0, vpc: 0, vdi: 0, vmdk: 0 },
          guessed: true,
        });
      }
    }
  });
});
