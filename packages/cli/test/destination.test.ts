import { spawn, spawnSync } from 'node:child_process';
import {
  chmod,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk, VDISK } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = join(tmpdir(), `vdisk-destination-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const pattern = (length: number, seed: number) => {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = ((i * 7 + seed) % 251) + 1;
  return bytes;
};

/** A fresh directory holding a 1 MiB raw source of patterned bytes. */
async function workdir(name: string): Promise<{ work: string; src: string; bytes: Uint8Array }> {
  const work = join(dir, name);
  await mkdir(work);
  const src = join(work, 'src.raw');
  const bytes = pattern(1024 * 1024, name.length);
  await writeFile(src, bytes);
  return { work, src, bytes };
}

describe('convert destinations', { timeout: 30_000 }, () => {
  it('writes through a symlink: the link stays, its target gets the image', async () => {
    const { work, src, bytes } = await workdir('symlink');
    await mkdir(join(work, 'real'));
    await writeFile(join(work, 'real', 'disk.raw'), 'old');
    await symlink('real/disk.raw', join(work, 'link.raw'));
    // A dangling link is written through too, as open(O_CREAT) would.
    await symlink('real/new.raw', join(work, 'dangling.raw'));
    for (const name of ['link.raw', 'dangling.raw']) {
      expect(await runVdisk(['convert', '-f', 'raw', '-O', 'raw', src, join(work, name)])).toMatchObject({
        code: 0,
        stderr: '',
      });
    }
    expect((await lstat(join(work, 'link.raw'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(work, 'link.raw'))).toBe('real/disk.raw');
    expect(Buffer.compare(await readFile(join(work, 'real', 'disk.raw')), bytes)).toBe(0);
    expect(Buffer.compare(await readFile(join(work, 'real', 'new.raw')), bytes)).toBe(0);
    expect((await readdir(join(work, 'real'))).sort()).toEqual(['disk.raw', 'new.raw']);
  });

  it("keeps an existing file's mode (600, 640) and owner; a new file gets 644 less the umask", async () => {
    const { work, src } = await workdir('mode');
    for (const mode of [0o600, 0o640, 0o755]) {
      const dst = join(work, `out-${mode.toString(8)}.raw`);
      await writeFile(dst, 'old');
      await chmod(dst, mode);
      expect((await runVdisk(['convert', '-f', 'raw', '-O', 'raw', src, dst])).code).toBe(0);
      expect((await stat(dst)).mode & 0o7777).toBe(mode);
    }
    const fresh = join(work, 'fresh.raw');
    expect((await runVdisk(['convert', '-f', 'raw', '-O', 'raw', src, fresh])).code).toBe(0);
    expect((await stat(fresh)).mode & 0o777).toBe(0o644 & ~process.umask());
  });

  it('is never wider than 0600 while it is being written', async () => {
    const { work } = await workdir('temporary-mode');
    const src = join(work, 'big.raw');
    await writeFile(src, '');
    await truncate(src, 2048 * 1024 * 1024);
    const dst = join(work, 'out.raw');
    await writeFile(dst, 'old');
    await chmod(dst, 0o644);
    const child = spawn(process.execPath, [VDISK, 'convert', '-f', 'raw', '-O', 'raw', src, dst], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('close', resolve));
    let temporary: string | undefined;
    for (let i = 0; i < 2000 && !temporary; i++) {
      temporary = (await readdir(work)).find((name) => name.endsWith('.vdisk-tmp'));
      if (!temporary) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(temporary, 'the temporary file never appeared').toBeDefined();
    expect((await stat(join(work, temporary as string))).mode & 0o777).toBe(0o600);
    child.kill('SIGTERM');
    await exited;
    expect((await readdir(work)).sort()).toEqual(['big.raw', 'out.raw', 'src.raw']);
    expect(await readFile(dst, 'utf8')).toBe('old');
  });

  it('replaces the name: another hard link to the old file keeps the old content', async () => {
    const { work, src, bytes } = await workdir('hard-link');
    const dst = join(work, 'out.raw');
    await writeFile(dst, 'old');
    await link(dst, join(work, 'other-name.raw'));
    expect((await runVdisk(['convert', '-f', 'raw', '-O', 'raw', src, dst])).code).toBe(0);
    expect(Buffer.compare(await readFile(dst), bytes)).toBe(0);
    expect(await readFile(join(work, 'other-name.raw'), 'utf8')).toBe('old');
  });

  it('refuses a FIFO and a character device, changing nothing', async () => {
    const { work, src } = await workdir('fifo');
    const fifo = join(work, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    for (const dst of [fifo, '/dev/null']) {
      expect(await runVdisk(['convert', '-f', 'raw', '-O', 'raw', src, dst])).toEqual({
        code: 1,
        signal: null,
        stdout: '',
        stderr: `vdisk: ${dst}: Not a regular file or block device\n`,
      });
    }
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    expect((await stat('/dev/null')).isCharacterDevice()).toBe(true);
    expect((await readdir(work)).sort()).toEqual(['pipe', 'src.raw']);
  });

  it('fails at once on a directory, a missing directory or a name too long, before the source is read', async () => {
    const { work } = await workdir('fail-fast');
    // The source does not exist: an error that names DST proves DST was checked first.
    const src = join(work, 'no-such-source.bochs');
    await mkdir(join(work, 'a-directory'));
    const cases: [string, string][] = [
      [join(work, 'a-directory'), 'Is a directory'],
      [join(work, 'missing', 'out.raw'), 'No such file or directory'],
      [join(work, `${'n'.repeat(300)}.raw`), 'File name too long'],
      [join(work, 'a-directory', 'x', 'y'), 'No such file or directory'],
    ];
    for (const [dst, message] of cases) {
      expect(await runVdisk(['convert', '-O', 'raw', src, dst])).toMatchObject({
        code: 1,
        stderr: `vdisk: ${dst}: ${message}\n`,
      });
    }
    // Against a real source too: nothing was made anywhere.
    expect((await readdir(work)).sort()).toEqual(['a-directory', 'src.raw']);
    expect(await readdir(join(work, 'a-directory'))).toEqual([]);
  });

  it('writes a temporary name that fits when the target name is near the limit', async () => {
    const { work, src, bytes } = await workdir('long-name');
    const dst = join(work, `${'é'.repeat(120)}.raw`); // 244 bytes of UTF-8: the temporary name would pass 255
    expect((await runVdisk(['convert', '-f', 'raw', '-O', 'raw', src, dst])).code).toBe(0);
    expect(Buffer.compare(await readFile(dst), bytes)).toBe(0);
  });

  it('- streams raw bytes to stdout, and refuses other formats there', async () => {
    const { src, bytes } = await workdir('stdout');
    const child = spawnSync(process.execPath, [VDISK, 'convert', '-f', 'raw', '-O', 'raw', src, '-'], {
      maxBuffer: 4 * 1024 * 1024,
    });
    expect(child.status).toBe(0);
    expect(child.stderr.toString()).toBe('');
    expect(Buffer.compare(child.stdout, bytes)).toBe(0);
    expect(await runVdisk(['convert', '-f', 'raw', '-O', 'bochs', src, '-'])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'vdisk: -: Standard output takes raw bytes only, not bochs: write it to a file\n',
    });
  });

  const canLoop = process.getuid?.() === 0 && spawnSync('losetup', ['--version']).status === 0;
  it.skipIf(!canLoop)(
    'writes a block device in place, and refuses one smaller than the disk (loop devices)',
    async () => {
      const { work, src, bytes } = await workdir('block-device');
      const backing = join(work, 'device.img');
      await writeFile(backing, Buffer.alloc(2 * 1024 * 1024, 0xee)); // old content everywhere
      const small = join(work, 'small.img');
      await writeFile(small, Buffer.alloc(512 * 1024, 0xee));
      const attach = (file: string) => spawnSync('losetup', ['-f', '--show', file], { encoding: 'utf8' });
      const big = attach(backing);
      const little = attach(small);
      if (big.status !== 0 || little.status !== 0) {
        console.warn(`[destination] no free loop device: ${big.stderr}${little.stderr}`);
        return;
      }
      const device = big.stdout.trim();
      const smallDevice = little.stdout.trim();
      try {
        // Zeros in the source must reach the device: it does not read as zeros as a new file does.
        const withZeros = Buffer.from(bytes);
        withZeros.fill(0, 4096, 65536);
        await writeFile(src, withZeros);
        expect(await runVdisk(['convert', '-f', 'raw', '-O', 'raw', src, device])).toMatchObject({
          code: 0,
          stderr: '',
        });
        expect((await stat(device)).isBlockDevice()).toBe(true);
        expect(await runVdisk(['convert', '-f', 'raw', '-O', 'raw', src, smallDevice])).toMatchObject({
          code: 1,
          stderr: `vdisk: ${smallDevice}: Cannot grow device files\n`,
        });
      } finally {
        spawnSync('losetup', ['-d', device]);
        spawnSync('losetup', ['-d', smallDevice]);
      }
      const written = await readFile(backing);
      expect(written.length).toBe(2 * 1024 * 1024); // never truncated
      const expected = Buffer.alloc(2 * 1024 * 1024, 0xee);
      Buffer.from(bytes).copy(expected);
      expected.fill(0, 4096, 65536);
      expect(Buffer.compare(written, expected)).toBe(0);
      expect((await readFile(small)).every((b) => b === 0xee)).toBe(true);
    },
  );
});

describe('convert interrupted', { timeout: 30_000 }, () => {
  /** Starts a convert of a 4 GiB sparse raw file and resolves once its temporary file exists. */
  async function startConvert(name: string) {
    const work = join(dir, name);
    await mkdir(work);
    const src = join(work, 'big.raw');
    await writeFile(src, '');
    await truncate(src, 4096 * 1024 * 1024);
    const child = spawn(process.execPath, [VDISK, 'convert', '-f', 'raw', '-O', 'raw', src, join(work, 'out.raw')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal })),
    );
    let running = true;
    void exited.then(() => {
      running = false;
    });
    let seen = false;
    while (running && !seen) {
      seen = (await readdir(work)).some((file) => file.endsWith('.vdisk-tmp'));
      if (!seen) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(seen, 'the convert ended before it could be interrupted').toBe(true);
    return { work, src, child, exited, stderr: () => stderr };
  }

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
    it(`${signal} leaves no temporary file and no target`, async () => {
      const { work, child, exited, stderr } = await startConvert(signal.toLowerCase());
      child.kill(signal);
      // The abort removed the partial output; then vdisk died by the signal, quietly, as qemu-img does.
      expect(await exited).toEqual({ code: null, signal });
      expect(stderr()).toBe('');
      expect(await readdir(work)).toEqual(['big.raw']);
    });
  }

  it('a second Ctrl-C ends it at once, and still leaves no temporary file', async () => {
    const { work, child, exited } = await startConvert('twice');
    child.kill('SIGINT');
    child.kill('SIGINT');
    expect(await exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(await readdir(work)).toEqual(['big.raw']);
  });
});
