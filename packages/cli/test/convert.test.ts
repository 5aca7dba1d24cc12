import { spawn, spawnSync } from 'node:child_process';
import { link, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk, VDISK } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-convert-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const pattern = (length: number, seed: number) => {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = ((i * 11 + seed) % 255) + 1;
  return bytes;
};

/** A fresh directory per test, so "no other file was left behind" can be checked. */
async function workdir(name: string): Promise<string> {
  const path = join(dir, name);
  await rm(path, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(path));
  return path;
}

describe('vdisk convert -O raw', () => {
  it('writes a sparse file: only the blocks that hold nonzero data are allocated', async () => {
    const work = await workdir('sparse');
    const writes = [
      { offset: 1 * MiB, data: pattern(64 * 1024, 1) },
      { offset: 30 * MiB, data: pattern(4096, 2) },
      // Written, but zeros: allocated in the image, a hole in the output (qemu-img's -S 4k).
      { offset: 40 * MiB, data: new Uint8Array(64 * 1024) },
      { offset: 64 * MiB - 512, data: pattern(512, 3) },
    ];
    const src = join(work, 'src.bochs');
    await writeFile(src, buildBochsImage({ diskSize: 64 * MiB, writes }));
    const dst = join(work, 'out.raw');
    const result = await runVdisk(['convert', '-O', 'raw', src, dst]);
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });

    const expected = new Uint8Array(64 * MiB);
    for (const { offset, data } of writes) expected.set(data, offset);
    const out = await readFile(dst);
    expect(out.length).toBe(64 * MiB);
    expect(Buffer.compare(out, expected)).toBe(0);
    // 64 KiB + 4 KiB + one 4 KiB block for the last sector: 72 KiB of data, in 4 KiB
    // file system blocks. A little slack for the file system's own bookkeeping.
    const allocated = (await stat(dst)).blocks * 512;
    expect(allocated).toBeGreaterThanOrEqual(72 * 1024);
    expect(allocated).toBeLessThanOrEqual(72 * 1024 + 16 * 1024);
    expect(await readdir(work)).toEqual(['out.raw', 'src.bochs']);
  });

  it('refuses to overwrite its own source, by name or through a hard link', async () => {
    const work = await workdir('own-source');
    const src = join(work, 'disk.bochs');
    const bytes = buildBochsImage({ diskSize: 1032192, writes: [{ offset: 0, data: pattern(512, 4) }] });
    await writeFile(src, bytes);
    await link(src, join(work, 'alias.img'));
    for (const dst of [src, join(work, 'alias.img')]) {
      const result = await runVdisk(['convert', '-O', 'raw', src, dst]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`vdisk: ${dst}: Refusing to overwrite the source image\n`);
    }
    expect(Buffer.compare(await readFile(src), bytes)).toBe(0);
    expect((await readdir(work)).sort()).toEqual(['alias.img', 'disk.bochs']);
  });

  it('leaves no file under the target name, and the old target intact, when a read fails mid-way', async () => {
    const work = await workdir('read-fails');
    // 64 extents of 8 MiB. Extents 0 and 10 are fine and come first; extent 40 (at 320 MiB,
    // past the first 256 MiB the converter maps at once) points to slot 0xfffffffe, whose
    // offset is beyond 2^53: the convert fails after it has written data.
    const image = buildBochsImage({
      diskSize: 512 * MiB,
      catalogSize: 64,
      bitmapSize: 2048,
      extentSize: 8 * MiB,
      writes: [
        { offset: 0, data: pattern(4096, 5) },
        { offset: 80 * MiB, data: pattern(4096, 6) },
        { offset: 320 * MiB, data: pattern(4096, 7) },
      ],
    });
    new DataView(image.buffer).setUint32(512 + 4 * 40, 0xfffffffe, true);
    const src = join(work, 'hostile.bochs');
    await writeFile(src, image);
    const dst = join(work, 'out.raw');
    await writeFile(dst, 'the old target');
    const result = await runVdisk(['convert', '-O', 'raw', src, dst]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^vdisk: [^\n]*beyond 2\^53[^\n]*\n$/);
    expect(await readFile(dst, 'utf8')).toBe('the old target');
    expect((await readdir(work)).sort()).toEqual(['hostile.bochs', 'out.raw']);
  });

  it('leaves no file under the target name when interrupted with SIGINT', async () => {
    const work = await workdir('sigint');
    // 4 GiB of raw (sparse on disk): seconds of reading, time enough to be interrupted.
    const src = join(work, 'big.raw');
    await writeFile(src, '');
    await truncate(src, 4096 * MiB);
    const dst = join(work, 'out.raw');
    const child = spawn(process.execPath, [VDISK, 'convert', '-f', 'raw', '-O', 'raw', src, dst], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('close', (_code, signal) => resolve(signal)),
    );
    let running = true;
    void exited.then(() => {
      running = false;
    });
    // Wait until the output file is being written, then interrupt.
    let sawTemporary = false;
    while (running && !sawTemporary) {
      sawTemporary = (await readdir(work)).some((name) => name.endsWith('.vdisk-tmp'));
      if (!sawTemporary) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(sawTemporary, 'the convert ended before it could be interrupted').toBe(true);
    child.kill('SIGINT');
    // It cleans up, then ends by the signal, quietly, as qemu-img does when interrupted.
    expect(await exited).toBe('SIGINT');
    expect(stderr).toBe('');
    expect(await readdir(work)).toEqual(['big.raw']);
  });

  it('-p stays quiet when stderr is not a terminal', async () => {
    const work = await workdir('progress-pipe');
    const src = join(work, 'src.raw');
    await writeFile(src, pattern(3 * MiB, 8));
    const result = await runVdisk(['convert', '-p', '-f', 'raw', '-O', 'raw', src, join(work, 'out.raw')]);
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it.skipIf(spawnSync('script', ['--version']).status !== 0)(
    '-p shows a bar with bytes, rate and ETA on a terminal (via script(1))',
    async () => {
      const work = await workdir('progress-tty');
      const src = join(work, 'src.raw');
      await writeFile(src, pattern(3 * MiB, 9));
      const command = [process.execPath, VDISK, 'convert', '-p', '-f', 'raw', '-O', 'raw', src, join(work, 'out.raw')]
        .map((arg) => `'${arg}'`)
        .join(' ');
      const tty = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' });
      expect(tty.status).toBe(0);
      expect(tty.stdout).toMatch(/100% \| 3 MiB of 3 MiB \| .*B\/s \| ETA /);
    },
  );
});
