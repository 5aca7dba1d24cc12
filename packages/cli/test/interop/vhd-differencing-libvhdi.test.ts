/**
 * Differencing VHDs that vdisk makes, read by an independent reader that follows VHD
 * parents: libvhdi (Debian's python3-libvhdi and libvhdi-utils, 20210425). `vhdiinfo` must
 * see a differential disk naming the base and its identifier, and libvhdi, given the base as
 * the parent, must read the disk vdisk reads, byte for byte.
 *
 * libvhdi 20210425 (and its 2022 source) misreads a sector bitmap byte whose set bit is
 * followed by clear ones (libvhdi_block_descriptor_read_sector_bitmap_data shifts the byte
 * without masking the bit, so every later bit of that byte reads as set). So the child's
 * writes here leave bytes that libvhdi reads right: whole 4 KiB runs (bytes of 0xff) and
 * single sectors that are the last of their byte (the byte's least significant bit, which
 * also pins the bit order: the most significant bit is the byte's first sector).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNeeding, findTools, makeScratchDir, qemuImg, removeScratchDir, run, vdisk } from './peers.js';

/** Debian's python, which has the pyvhdi module (a pyenv python on the PATH may not). */
const PYTHON = '/usr/bin/python3';
const hasPyvhdi = (await run(PYTHON, ['-c', 'import pyvhdi']).catch(() => ({ code: 1 }))).code === 0;
const tools = findTools(['vhdiinfo', 'qemu-img', 'qemu-io']);
const missing = [
  ...(['vhdiinfo', 'qemu-img', 'qemu-io'] as const).filter((tool) => tools[tool] === undefined),
  ...(hasPyvhdi ? [] : ['pyvhdi (python3-libvhdi)']),
];

const MiB = 1024 * 1024;

async function ok(result: Promise<{ code: number | null; stdout: string; stderr: string }>): Promise<string> {
  const { code, stdout, stderr } = await result;
  if (code !== 0) throw new Error(`exit ${code}: ${stderr}${stdout.slice(-300)}`);
  return stdout;
}

/** libvhdi's reading of `child` over `parent`, written whole to `out`. */
async function libvhdiRead(child: string, parent: string, out: string): Promise<Uint8Array> {
  const script = [
    'import sys, pyvhdi',
    'parent = pyvhdi.file(); parent.open(sys.argv[2])',
    'child = pyvhdi.file(); child.open(sys.argv[1]); child.set_parent(parent)',
    'open(sys.argv[3], "wb").write(child.read_buffer_at_offset(child.media_size, 0))',
  ].join('\n');
  await ok(run(PYTHON, ['-c', script, child, parent, out]));
  return new Uint8Array(await readFile(out));
}

describeNeeding(missing, 'apt-get install -y python3-libvhdi libvhdi-utils', 'differencing VHD read by libvhdi', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  it('vhdiinfo sees the parent vdisk records, and libvhdi reads the disk vdisk reads', async () => {
    const base = join(dir, 'base.vhd');
    await ok(qemuImg('create', '-f', 'vpc', base, '8M'));
    await ok(run('qemu-io', ['-f', 'vpc', '-c', 'write -P 0x5a 0 3M', '-c', 'write -P 0xa5 6M 128k', base]));
    const child = join(dir, 'child.vhd');
    await ok(vdisk('create', '-f', 'vpc', '-b', 'base.vhd', child));
    await ok(
      vdisk(
        'io',
        '-c',
        'write -P 0x11 4096 8192', // whole bitmap bytes in block 0, over base data
        '-c',
        'write -P 0x22 3584 512', // sector 7: the last bit of byte 0
        '-c',
        'write -P 0x33 4M 64k', // block 2, a hole of the base
        '-c',
        `write -P 0x44 ${6 * MiB + 15 * 512} 512`, // sector 15 of block 3: the last bit of byte 1
        '-c',
        `write -z ${6 * MiB + 64 * 1024} 4096`, // zeros over the base's 0xa5
        child,
      ),
    );

    const info = await ok(run('vhdiinfo', [child]));
    const baseInfo = await ok(run('vhdiinfo', [base]));
    const baseId = /Identifier\s*: (\S+)/.exec(baseInfo)?.[1];
    expect(info).toMatch(/Disk type\s*: Differential/);
    expect(info).toContain(`Parent identifier\t: ${baseId}`);
    expect(info).toMatch(/Parent filename\s*: base\.vhd/);

    const vdiskOut = join(dir, 'child-vdisk.raw');
    await ok(vdisk('convert', '-O', 'raw', child, vdiskOut));
    const ours = new Uint8Array(await readFile(vdiskOut));
    const theirs = await libvhdiRead(child, base, join(dir, 'child-libvhdi.raw'));
    expect(theirs.length).toBe(ours.length);
    const differ: number[] = [];
    for (let s = 0; s < ours.length / 512 && differ.length < 10; s++) {
      if (
        !Buffer.from(ours.subarray(s * 512, s * 512 + 512)).equals(Buffer.from(theirs.subarray(s * 512, s * 512 + 512)))
      ) {
        differ.push(s);
      }
    }
    expect(differ).toEqual([]);
    // Not vacuous: the merge holds the base's bytes and the child's.
    expect(ours[0]).toBe(0x5a);
    expect(ours[3584]).toBe(0x22);
    expect(ours[3072]).toBe(0x5a); // sector 6: the base's, its bit clear
    expect(ours[6 * MiB + 64 * 1024]).toBe(0);
    expect(ours[6 * MiB + 68 * 1024]).toBe(0xa5);
  });
});
