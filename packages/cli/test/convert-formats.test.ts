import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = join(tmpdir(), `vdisk-convert-formats-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;

async function rawDisk(name: string): Promise<{ path: string; bytes: Uint8Array }> {
  const bytes = new Uint8Array(4 * MiB);
  for (let i = 0; i < 100_000; i++) bytes[MiB + i] = (i % 250) + 1;
  bytes.fill(9, 3 * MiB + 512, 3 * MiB + 1024);
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { path, bytes };
}

describe('vdisk convert -O FMT', { timeout: 30_000 }, () => {
  it('raw → bochs → raw keeps every byte, and --target-options reach the new image', async () => {
    const { path, bytes } = await rawDisk('round-trip.raw');
    const bochs = join(dir, 'round-trip.bochs');
    const back = join(dir, 'round-trip.back.raw');
    expect(
      await runVdisk(['convert', '-f', 'raw', '-O', 'bochs', '--target-options', 'extent_size=65536', path, bochs]),
    ).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const info = JSON.parse((await runVdisk(['info', '--output=json', bochs])).stdout);
    expect(info).toMatchObject({ format: 'bochs', 'virtual-size': 4 * MiB });
    expect(info['format-specific'].data['extent-size']).toBe(65536);
    expect((await runVdisk(['check', bochs])).code).toBe(0);
    expect((await runVdisk(['convert', '-O', 'raw', bochs, back])).code).toBe(0);
    expect(Buffer.compare(await readFile(back), bytes)).toBe(0);
  });

  it('-S 0 allocates every extent; the default skips zero sectors for bochs', async () => {
    const { path } = await rawDisk('sparse.raw');
    const dense = join(dir, 'dense.bochs');
    const sparse = join(dir, 'sparse.bochs');
    expect((await runVdisk(['convert', '-f', 'raw', '-O', 'bochs', '-S', '0', path, dense])).code).toBe(0);
    expect((await runVdisk(['convert', '-f', 'raw', '-O', 'bochs', path, sparse])).code).toBe(0);
    const extents = async (file: string) =>
      JSON.parse((await runVdisk(['info', '--output=json', file])).stdout)['format-specific'].data['allocated-extents'];
    // bximage's geometry for 4 MiB: 512 extents of 8 KiB, every one written with -S 0.
    expect(await extents(dense)).toBe(512);
    expect(await extents(sparse)).toBeLessThan(await extents(dense));
    expect(await runVdisk(['compare', dense, sparse])).toMatchObject({ code: 0 });
  });

  it("refuses unknown formats and bad -S values in qemu-img's words, writing nothing", async () => {
    const { path } = await rawDisk('refused.raw');
    const out = join(dir, 'refused-out');
    const cases: [string[], string][] = [
      [['-O', 'qcow2'], "vdisk: Unknown file format 'qcow2'\n"],
      [
        ['-O', 'raw', '-S', '511'],
        'vdisk: Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates output).\n',
      ],
      [
        ['-O', 'raw', '-S', 'abc'],
        'vdisk: Invalid buffer size for sparse output specified. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.\n',
      ],
      [
        ['-O', 'bochs', '--target-options', 'extent_size=1000'],
        `vdisk: ${out}: Extent size 1000 is not a power of two\n`,
      ],
    ];
    for (const [args, stderr] of cases) {
      expect(await runVdisk(['convert', '-f', 'raw', ...args, path, out])).toMatchObject({ code: 1, stderr });
    }
    expect((await readdir(dir)).filter((name) => name.startsWith('refused-out') || name.includes('vdisk-tmp'))).toEqual(
      [],
    );
  });
});
