import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vdisk } from './vdisk-process.js';

let dir: string;
const path = (name: string) => join(dir, name);
const DISK = 4 * 1024 * 1024;

function sector(text: string): Uint8Array {
  const bytes = new Uint8Array(512).fill(0x5a);
  bytes.set(new TextEncoder().encode(text));
  return bytes;
}

/** Written sectors: lone ones, runs across extents, the very first and last sectors. */
const writes = [
  { offset: 0, data: sector('first') },
  { offset: 512 * 9, data: sector('ninth') },
  { offset: 16384 - 1024, data: new Uint8Array(4096).fill(0xa5) },
  { offset: DISK - 512, data: sector('last') },
];
const expected = new Uint8Array(DISK);
for (const w of writes) expected.set(w.data, w.offset);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vdisk-cli-'));
  await writeFile(path('disk.bochs'), buildBochsImage({ diskSize: DISK, writes }));
  await writeFile(path('disk.raw'), expected.subarray(0, 10_000));
  await writeFile(path('bad.bochs'), buildBochsImage({ diskSize: DISK, extentSize: 3000, catalogSize: 4096 }));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('vdisk info', () => {
  it("prints qemu-img info's layout", async () => {
    const run = await vdisk(['info', path('disk.bochs')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        [
          `^image: ${path('disk.bochs')}`,
          'file format: bochs',
          'virtual size: 4 MiB \\(4194304 bytes\\)',
          'disk size: \\d+(\\.\\d+)? KiB',
          'Format specific information:',
          '    version: 2',
          '    subtype: Growing',
          '    header size: 512',
          '    catalog size: 512',
          '    bitmap size: 2',
          '    extent size: 8192',
          '    allocated extents: 4\n$',
        ].join('\n'),
      ),
    );
  });

  it('prints the JSON keys of qemu-img info', async () => {
    const run = await vdisk(['info', '--output=json', path('disk.bochs')]);
    const json = JSON.parse(run.stdout);
    const { blocks } = await stat(path('disk.bochs'));
    expect(json).toEqual({
      filename: path('disk.bochs'),
      format: 'bochs',
      'virtual-size': DISK,
      'actual-size': blocks * 512,
      'format-specific': {
        type: 'bochs',
        data: {
          version: 2,
          subtype: 'Growing',
          'header-size': 512,
          'catalog-size': 512,
          'bitmap-size': 2,
          'extent-size': 8192,
          'allocated-extents': 4,
        },
      },
    });
  });

  it('shows raw with its exact size, and its window when offset and size are given', async () => {
    const plain = JSON.parse((await vdisk(['info', '--output=json', path('disk.raw')])).stdout);
    expect(plain).toMatchObject({ format: 'raw', 'virtual-size': 10_000 });
    expect(plain['format-specific']).toBeUndefined();
    const window = await vdisk(['info', '--output=json', '-f', 'raw', '-o', 'offset=512,size=8192', path('disk.raw')]);
    expect(JSON.parse(window.stdout)).toMatchObject({
      'virtual-size': 8192,
      'format-specific': { type: 'raw', data: { offset: 512, size: 8192 } },
    });
  });

  it("fails with QEMU's message on one line, exit 1", async () => {
    expect(await vdisk(['info', path('bad.bochs')])).toEqual({
      code: 1,
      stdout: '',
      stderr: `vdisk: ${path('bad.bochs')}: Extent size 3000 is not a power of two\n`,
    });
    expect(await vdisk(['info', '-f', 'qcow9', path('disk.raw')])).toMatchObject({
      code: 1,
      stderr: `vdisk: ${path('disk.raw')}: Unknown driver 'qcow9'\n`,
    });
    expect(await vdisk(['info', '-f', 'raw', '-o', 'size=1000', path('disk.raw')])).toMatchObject({
      code: 1,
      stderr: `vdisk: ${path('disk.raw')}: Specified size is not multiple of 512\n`,
    });
  });

  it('shows a stack trace only with --debug', async () => {
    const run = await vdisk(['--debug', 'info', path('bad.bochs')]);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')[0]).toBe(`vdisk: ${path('bad.bochs')}: Extent size 3000 is not a power of two`);
    expect(run.stderr).toContain('    at ');
  });
});

describe('vdisk convert', () => {
  it('writes the whole virtual disk as raw, byte for byte', async () => {
    const run = await vdisk(['convert', '-O', 'raw', path('disk.bochs'), path('out.raw')]);
    expect(run).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(Buffer.from(await readFile(path('out.raw'))).equals(Buffer.from(expected))).toBe(true);
  });

  it('converts a raw window too', async () => {
    await vdisk(['convert', '-f', 'raw', '-o', 'offset=512,size=1024', '-O', 'raw', path('disk.raw'), path('w.raw')]);
    expect(Buffer.from(await readFile(path('w.raw'))).equals(Buffer.from(expected.subarray(512, 1536)))).toBe(true);
  });

  it('refuses other output formats and its own source', async () => {
    expect(await vdisk(['convert', '-O', 'qcow2', path('disk.bochs'), path('x')])).toMatchObject({
      code: 1,
      stderr: "vdisk: Unknown file format 'qcow2'\n",
    });
    const before = await readFile(path('disk.bochs'));
    expect(await vdisk(['convert', '-O', 'raw', path('disk.bochs'), path('disk.bochs')])).toMatchObject({
      code: 1,
      stderr: `vdisk: ${path('disk.bochs')}: Refusing to overwrite the source image\n`,
    });
    expect(Buffer.from(await readFile(path('disk.bochs'))).equals(before)).toBe(true);
  });

  it('leaves nothing behind when the source is bad', async () => {
    const run = await vdisk(['convert', '-O', 'raw', path('bad.bochs'), path('never.raw')]);
    expect(run.code).toBe(1);
    expect((await readdir(dir)).filter((f) => f.includes('never'))).toEqual([]);
  });
});
