import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = join(tmpdir(), `vdisk-create-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('vdisk create', { timeout: 30_000 }, () => {
  it("prints qemu-img's Formatting line and makes a raw file of the exact size", async () => {
    const file = join(dir, 'exact.raw');
    expect(await runVdisk(['create', file, '1.5k'])).toEqual({
      code: 0,
      signal: null,
      stdout: `Formatting '${file}', fmt=raw size=1536\n`,
      stderr: '',
    });
    expect((await stat(file)).size).toBe(1536);
    expect((await stat(file)).blocks).toBe(0); // sparse
    expect((await runVdisk(['create', '-f', 'raw', join(dir, 'odd.raw'), '1000'])).code).toBe(0);
    expect((await stat(join(dir, 'odd.raw'))).size).toBe(1000); // exact, no rounding to 512
  });

  it('makes a Bochs image that vdisk opens with the size asked for, rounded up to 512', async () => {
    const file = join(dir, 'disk.bochs');
    expect(await runVdisk(['create', '-f', 'bochs', file, '10M'])).toMatchObject({
      code: 0,
      stdout: `Formatting '${file}', fmt=bochs size=10485760\n`,
    });
    const info = JSON.parse((await runVdisk(['info', '--output=json', file])).stdout);
    expect(info).toMatchObject({ format: 'bochs', 'virtual-size': 10485760 });
    expect((await runVdisk(['create', '-f', 'bochs', join(dir, 'odd.bochs'), '1000'])).code).toBe(0);
    const odd = JSON.parse((await runVdisk(['info', '--output=json', join(dir, 'odd.bochs')])).stdout);
    expect(odd['virtual-size']).toBe(1024);
    expect((await runVdisk(['check', file])).code).toBe(0);
  });

  it('passes -o to the format and prints it on the Formatting line', async () => {
    const file = join(dir, 'extent.bochs');
    expect(await runVdisk(['create', '-f', 'bochs', '-o', 'extent_size=65536', file, '10M'])).toMatchObject({
      code: 0,
      stdout: `Formatting '${file}', fmt=bochs size=10485760 extent_size=65536\n`,
    });
    const info = JSON.parse((await runVdisk(['info', '--output=json', file])).stdout);
    expect(info['format-specific'].data['extent-size']).toBe(65536);
  });

  it('refuses an existing file unless --force, which keeps its mode', async () => {
    const file = join(dir, 'existing.raw');
    await writeFile(file, 'precious');
    await chmod(file, 0o600);
    expect(await runVdisk(['create', file, '1M'])).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `vdisk: ${file}: File exists\n`,
    });
    expect(await readFile(file, 'utf8')).toBe('precious');
    expect((await runVdisk(['create', '--force', file, '1M'])).code).toBe(0);
    const after = await stat(file);
    expect(after.size).toBe(1024 * 1024);
    expect(after.mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).filter((name) => name.endsWith('.vdisk-tmp'))).toEqual([]);
  });

  it("reports bad sizes, formats and destinations in qemu-img's words, making nothing", async () => {
    const file = join(dir, 'never.img');
    const cases: [string[], string][] = [
      [
        [file, '1.5'],
        'vdisk: Invalid image size specified. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.\n',
      ],
      [[file, '8E'], 'vdisk: Invalid image size specified. Must be between 0 and 9007199254740991.\n'],
      [[file], `vdisk: ${file}: Image creation needs a size parameter\n`],
      [['-f', 'qcow2', file, '1M'], `vdisk: ${file}: Unknown file format 'qcow2'\n`],
      [[join(dir, 'no-dir', 'x.img'), '1M'], `vdisk: ${join(dir, 'no-dir', 'x.img')}: No such file or directory\n`],
      [[dir, '1M'], `vdisk: ${dir}: Is a directory\n`],
      [['-f', 'bochs', '-o', 'bogus=1', file, '1M'], `vdisk: ${file}: `],
    ];
    for (const [args, stderr] of cases) {
      const result = await runVdisk(['create', ...args]);
      expect(result.code).toBe(1);
      expect(result.stderr.startsWith(stderr)).toBe(true);
      expect(result.stderr.split('\n')).toHaveLength(2); // one line
    }
    expect((await readdir(dir)).filter((name) => name.includes('never'))).toEqual([]);
  });
});
