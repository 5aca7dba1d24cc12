import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockDriver } from '../driver.js';
import { ImageFormatError, SystemError } from '../errors.js';
import { Registry } from '../registry.js';
import { FileSource } from './file-source.js';
import { openFile, probeFile } from './open-file.js';

let dir: string;
const bytes = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 0xff);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vdisk-file-source-'));
  await writeFile(join(dir, 'data.bin'), bytes);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileSource', () => {
  it('reads positionally and zero-fills past the end', async () => {
    const source = await FileSource.open(join(dir, 'data.bin'));
    expect(source.size).toBe(3000);
    const buffer = new Uint8Array(200).fill(0xee);
    await source.read(buffer, 2900);
    expect(buffer.subarray(0, 100)).toEqual(bytes.subarray(2900));
    expect(buffer.subarray(100)).toEqual(new Uint8Array(100));
    expect(await source.allocatedSize()).toBeGreaterThan(0);
    await source.close();
    await source.close();
  });

  it("fails with the operating system's words", async () => {
    await expect(FileSource.open(join(dir, 'missing'))).rejects.toMatchObject({
      constructor: SystemError,
      code: 'EIO',
      syscallCode: 'ENOENT',
      message: 'No such file or directory',
    });
    await expect(FileSource.open(dir)).rejects.toMatchObject({ constructor: SystemError, message: 'Is a directory' });
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(FileSource.open(fifo)).rejects.toMatchObject({
      constructor: SystemError,
      message: 'Not a regular file',
    });
  });
});

describe('openFile and probeFile', () => {
  const picky: BlockDriver = {
    name: 'picky',
    probe: () => 100,
    open: async () => {
      throw new ImageFormatError('Image not in picky format');
    },
  };

  async function openDescriptors(): Promise<number> {
    return (await readdir('/proc/self/fd')).length;
  }

  it('names the file in errors and leaks no descriptor when open fails', async () => {
    const registry = new Registry([picky]);
    const path = join(dir, 'data.bin');
    const before = await openDescriptors();
    for (let i = 0; i < 300; i++) {
      await expect(openFile(registry, path)).rejects.toMatchObject({
        message: 'Image not in picky format',
        filename: path,
      });
    }
    expect(await openDescriptors()).toBeLessThanOrEqual(before);
  });

  it('probes a file and closes it', async () => {
    const before = await openDescriptors();
    const result = await probeFile(new Registry([picky]), join(dir, 'data.bin'));
    expect(result.format).toBe('picky');
    expect(await openDescriptors()).toBeLessThanOrEqual(before);
  });
});

// A file whose byte i is (i * 7 + 3) & 0xff, so any misplaced byte shows.
const FILE_SIZE = 10_000;
const byteAt = (i: number) => (i < FILE_SIZE ? (i * 7 + 3) & 0xff : 0);
const expected = (position: number, length: number) => Uint8Array.from({ length }, (_, i) => byteAt(position + i));
const concat = (buffers: Uint8Array[]) => {
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of buffers) {
    out.set(b, at);
    at += b.length;
  }
  return out;
};

describe('FileSource.readv', () => {
  let readvDir: string;
  let path: string;
  beforeAll(async () => {
    readvDir = await mkdtemp(join(tmpdir(), 'vdisk-file-source-readv-'));
    path = join(readvDir, 'bytes');
    await writeFile(path, expected(0, FILE_SIZE));
  });
  afterAll(() => rm(readvDir, { recursive: true, force: true }));

  it('scatters one run of the file into the buffers in order', async () => {
    const source = await FileSource.open(path);
    const buffers = [new Uint8Array(5), new Uint8Array(0), new Uint8Array(700), new Uint8Array(1)];
    await source.readv(buffers, 123);
    await source.close();
    expect(concat(buffers)).toEqual(expected(123, 706));
  });

  it('reads more buffers than one preadv takes (IOV_MAX)', async () => {
    const source = await FileSource.open(path);
    const buffers = Array.from({ length: 2500 }, (_, i) => new Uint8Array(1 + (i % 3)));
    await source.readv(buffers, 17);
    await source.close();
    expect(concat(buffers)).toEqual(expected(17, 4999)); // 833 * (1 + 2 + 3) + 1
  });

  it('zero-fills past the end of the file, even inside a buffer', async () => {
    const source = await FileSource.open(path);
    const buffers = [new Uint8Array(30).fill(0xee), new Uint8Array(40).fill(0xee), new Uint8Array(10).fill(0xee)];
    await source.readv(buffers, FILE_SIZE - 50);
    expect(concat(buffers)).toEqual(expected(FILE_SIZE - 50, 80));
    const beyond = [new Uint8Array(8).fill(0xee), new Uint8Array(8).fill(0xee)];
    await source.readv(beyond, FILE_SIZE + 100);
    expect(concat(beyond)).toEqual(new Uint8Array(16));
    await source.close();
  });

  it('refuses a range that ends beyond 2^53', async () => {
    const source = await FileSource.open(path);
    await expect(source.readv([new Uint8Array(16)], Number.MAX_SAFE_INTEGER - 8)).rejects.toMatchObject({
      code: 'EOVERFLOW',
    });
    await source.close();
  });
});
