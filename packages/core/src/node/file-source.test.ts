import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
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

  it.skipIf(process.getuid?.() === 0)('reports a permission error', async () => {
    const path = join(dir, 'secret.bin');
    await writeFile(path, bytes);
    await chmod(path, 0o000);
    await expect(FileSource.open(path)).rejects.toMatchObject({ message: 'Permission denied' });
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
