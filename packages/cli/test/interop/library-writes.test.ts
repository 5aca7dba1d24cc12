import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openFile } from '@vdisk/core/node';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/default-registry.js';
import { seededBytes, seededIntegers } from './disk-contents.js';
import { describeInterop, makeScratchDir, peerPaths, removeScratchDir, run } from './peers.js';

/** A multiple of 512, so that QEMU's rounding of raw sizes changes nothing. */
const SIZE = 1024 * 1024;

type Op =
  | { kind: 'write'; offset: number; length: number; pattern: number }
  | { kind: 'zero'; offset: number; length: number };

/** Seeded writes and write-zeroes at any offset and length, overlapping each other, short and long. */
function script(seed: string, count: number): Op[] {
  const pick = seededIntegers(seed);
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const length = 1 + (i % 4 === 3 ? pick(96 * 1024) : pick(1500));
    const offset = pick(SIZE - length + 1);
    ops.push(
      i % 5 === 4 ? { kind: 'zero', offset, length } : { kind: 'write', offset, length, pattern: 1 + pick(255) },
    );
  }
  return ops;
}

function qemuIo(args: string[]) {
  return run(peerPaths['qemu-io'] as string, args);
}

describeInterop('library writes on raw files, against qemu-io', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  it('writes and write-zeroes at any offset and length leave the bytes that qemu-io leaves', async () => {
    const initial = seededBytes('library-writes/initial', SIZE);
    const ours = join(dir, 'ours.raw');
    const theirs = join(dir, 'theirs.raw');
    await writeFile(ours, initial);
    await writeFile(theirs, initial);
    const ops = script('library-writes/script', 120);

    const device = await openFile(defaultRegistry(), ours, { format: 'raw', writable: true });
    try {
      for (const op of ops) {
        if (op.kind === 'write') await device.write(op.offset, new Uint8Array(op.length).fill(op.pattern));
        else await device.writeZeroes(op.offset, op.length);
      }
      await device.flush();
    } finally {
      await device.close();
    }

    const commands = ops.flatMap((op) => [
      '-c',
      op.kind === 'write'
        ? `write -q -P ${op.pattern} ${op.offset} ${op.length}`
        : `write -q -z ${op.offset} ${op.length}`,
    ]);
    const result = await qemuIo(['-f', 'raw', ...commands, '-c', 'flush', theirs]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(Buffer.compare(await readFile(ours), await readFile(theirs))).toBe(0);
  });

  it('refuses, as qemu-io does, a Bochs header in the first sector of a raw image whose format was guessed', async () => {
    const header = buildBochsImage({ diskSize: 1032192 }).subarray(0, 512);
    const headerFile = join(dir, 'header.bin');
    await writeFile(headerFile, header);
    const initial = seededBytes('library-writes/guessed', 64 * 1024);
    const ours = join(dir, 'guessed-ours.raw');
    const theirs = join(dir, 'guessed-theirs.raw');
    await writeFile(ours, initial);
    await writeFile(theirs, initial);

    // The whole header, and its first 100 bytes (magic, type, subtype, version: enough to probe).
    const refused = await qemuIo(['-c', `write -s ${headerFile} 0 512`, '-c', `write -s ${headerFile} 0 100`, theirs]);
    expect(refused.stdout.match(/write failed: Operation not permitted/g)).toHaveLength(2);
    expect(refused.stderr).toContain('probing guessed raw');
    const device = await openFile(defaultRegistry(), ours, { writable: true });
    try {
      expect(device.format).toBe('raw');
      expect(device.probeGuessed).toBe(true);
      for (const length of [512, 100]) {
        await expect(device.write(0, header.subarray(0, length))).rejects.toMatchObject({
          code: 'EPERM',
          message: 'Operation not permitted',
        });
      }
      // Other bytes in the first sector are fine, for both.
      await device.write(0, new Uint8Array(512).fill(0x42));
    } finally {
      await device.close();
    }
    const allowed = await qemuIo(['-c', 'write -q -P 0x42 0 512', theirs]);
    expect(allowed.stdout).not.toContain('failed');
    expect(Buffer.compare(await readFile(ours), await readFile(theirs))).toBe(0);

    // Named, the format is not guessed: both write the header.
    const named = await openFile(defaultRegistry(), ours, { format: 'raw', writable: true });
    await named.write(0, header);
    await named.close();
    await qemuIo(['-f', 'raw', '-c', `write -q -s ${headerFile} 0 512`, theirs]);
    expect(Buffer.compare(await readFile(ours), await readFile(theirs))).toBe(0);
    expect((await readFile(ours)).subarray(0, 512)).toEqual(Buffer.from(header));
  });
});
