import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-compare-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const DISK = 1032192;
const pattern = (length: number, seed: number) => {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = ((i * 11 + seed) % 255) + 1;
  return bytes;
};

/** A Bochs image with data at 8 KiB and at 600 KiB, and the same disk as raw bytes. */
async function pair(name: string): Promise<{ bochs: string; raw: Uint8Array }> {
  const writes = [
    { offset: 8192, data: pattern(4096, 1) },
    { offset: 600 * 1024, data: pattern(1536, 2) },
  ];
  const raw = new Uint8Array(DISK);
  for (const { offset, data } of writes) raw.set(data, offset);
  const bochs = join(dir, `${name}.bochs`);
  await writeFile(bochs, buildBochsImage({ diskSize: DISK, writes }));
  return { bochs, raw };
}

async function rawFile(name: string, bytes: Uint8Array): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, bytes);
  return file;
}

describe('vdisk compare', () => {
  it('exits 0 for the same contents in two formats', async () => {
    const { bochs, raw } = await pair('same');
    const result = await runVdisk(['compare', bochs, await rawFile('same.raw', raw)]);
    expect(result).toMatchObject({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
  });

  it('exits 1 and names the first differing byte', async () => {
    const { bochs, raw } = await pair('differ');
    raw[600 * 1024 + 777] ^= 0x40;
    raw[900 * 1024] = 1;
    const result = await runVdisk(['compare', bochs, await rawFile('differ.raw', raw)]);
    expect(result).toMatchObject({ code: 1, stdout: `Content mismatch at offset ${600 * 1024 + 777}!\n` });
  });

  it('finds a difference where one image has a hole and the other data', async () => {
    const { bochs, raw } = await pair('hole');
    raw[300 * 1024 + 5] = 9;
    const result = await runVdisk(['compare', bochs, await rawFile('hole.raw', raw)]);
    expect(result).toMatchObject({ code: 1, stdout: `Content mismatch at offset ${300 * 1024 + 5}!\n` });
  });

  it('treats a missing tail as zeros, as qemu-img does, unless -s', async () => {
    const { bochs, raw } = await pair('tail');
    const longer = new Uint8Array(DISK + 65536);
    longer.set(raw);
    const zeroTail = await rawFile('zero-tail.raw', longer);
    expect(await runVdisk(['compare', bochs, zeroTail])).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
    expect(await runVdisk(['compare', '-s', bochs, zeroTail])).toMatchObject({
      code: 1,
      stdout: 'Strict mode: Image size mismatch!\n',
    });
    longer[DISK + 1000] = 7;
    const dataTail = await rawFile('data-tail.raw', longer);
    expect(await runVdisk(['compare', dataTail, bochs])).toMatchObject({
      code: 1,
      stdout: `Content mismatch at offset ${DISK + 1000}!\n`,
    });
  });

  it('takes -f and -F for the formats of the first and second image', async () => {
    const { bochs } = await pair('formats');
    // Read as raw, the Bochs file is its own bytes: it differs from the disk at byte 0.
    const asRaw = await runVdisk(['compare', '-F', 'raw', bochs, bochs]);
    expect(asRaw).toMatchObject({ code: 1, stdout: 'Content mismatch at offset 0!\n' });
  });

  it('exits 2 on an error, naming the file', async () => {
    const { bochs } = await pair('error');
    const missing = join(dir, 'missing.img');
    const result = await runVdisk(['compare', bochs, missing]);
    expect(result).toMatchObject({ code: 2, stdout: '', stderr: `vdisk: ${missing}: No such file or directory\n` });
  });

  it('exits 2 on a usage error too, as qemu-img compare does', async () => {
    const result = await runVdisk(['compare', 'only-one.img']);
    expect(result).toMatchObject({ code: 2, stdout: '', stderr: "vdisk: missing required argument 'b'\n" });
  });
});
