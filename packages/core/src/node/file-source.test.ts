import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSource } from './file-source.js';

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
  let dir: string;
  let path: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdisk-file-source-'));
    path = join(dir, 'bytes');
    await writeFile(path, expected(0, FILE_SIZE));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

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
