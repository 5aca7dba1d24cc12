/**
 * Differencing VHDs through the built `vdisk`: create -f vpc -b BASE (the child named by
 * relative and absolute locators), info's backing file lines, io writes into the child,
 * map's depth, convert of base plus child, the relative locator surviving a move of both
 * files, and commit into the base.
 */
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-vhd-diff-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
/** `qemu-img create -f vpc` of 6M: CHS 181/4/17, so 6301696 bytes. */
const SIZE = 6301696;

async function ok(args: string[]): Promise<string> {
  const result = await runVdisk(args);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
}

/** A base in `sub/base/` with data in its first and third blocks, and a child in `sub/child/` over it. */
async function chain(name: string): Promise<{ sub: string; base: string; child: string; expected: Uint8Array }> {
  const sub = join(dir, name);
  await mkdir(join(sub, 'base'), { recursive: true });
  await mkdir(join(sub, 'child'));
  const base = join(sub, 'base', 'base.vhd');
  const child = join(sub, 'child', 'child.vhd');
  await ok(['create', '-f', 'vpc', base, '6M']);
  await ok(['io', '-c', 'write -P 0x11 0 3M', '-c', 'write -P 0x22 4M 64k', base]);
  const expected = new Uint8Array(SIZE);
  expected.fill(0x11, 0, 3 * MiB);
  expected.fill(0x22, 4 * MiB, 4 * MiB + 64 * 1024);
  return { sub, base, child, expected };
}

describe('vpc differencing disks', () => {
  it("create -f vpc -b BASE -F vpc: the size is the base's, info shows the backing file, the child reads as the base", async () => {
    const { base, child, expected } = await chain('create');
    const made = await ok(['create', '-f', 'vpc', '-b', '../base/base.vhd', '-F', 'vpc', child]);
    expect(made).toBe(`Formatting '${child}', fmt=vpc size=${SIZE} base=../base/base.vhd base-format=vpc\n`);
    const human = (await ok(['info', child])).split('\n');
    expect(human).toContain(`backing file: ../base/base.vhd (actual path: ${base})`);
    expect(human).toContain('backing file format: vpc');
    const info = JSON.parse(await ok(['info', '--output=json', child]));
    expect(info).toMatchObject({
      format: 'vpc',
      'virtual-size': SIZE,
      'backing-filename': '../base/base.vhd',
      'full-backing-filename': base,
      'backing-filename-format': 'vpc',
    });
    const out = join(dir, 'create.raw');
    await ok(['convert', '-O', 'raw', child, out]);
    expect(Buffer.from(await readFile(out)).equals(Buffer.from(expected))).toBe(true);
  });

  it('writes go to the child only; map gives each run its depth; convert reads base plus child; zeros hide the base', async () => {
    const { sub, base, child, expected } = await chain('write');
    await ok(['create', '-f', 'vpc', '-b', '../base/base.vhd', child]);
    const baseBefore = await readFile(base);
    await ok(['io', '-c', 'write -P 0x33 1M 4k', '-c', 'write -P 0x44 5119k 2k', '-c', 'write -z 4M 512', child]);
    expected.fill(0x33, MiB, MiB + 4096);
    expected.fill(0x44, 5119 * 1024, 5121 * 1024);
    expected.fill(0, 4 * MiB, 4 * MiB + 512);
    expect(Buffer.from(await readFile(base)).equals(baseBefore)).toBe(true);
    const runs = JSON.parse(await ok(['map', '--output=json', child])) as Array<Record<string, unknown>>;
    expect(runs.slice(0, 3).map(({ start, length, depth, data }) => ({ start, length, depth, data }))).toEqual([
      { start: 0, length: MiB, depth: 1, data: true },
      { start: MiB, length: 4096, depth: 0, data: true },
      { start: MiB + 4096, length: MiB - 4096, depth: 1, data: true },
    ]);
    expect(runs.at(-1)).toMatchObject({ depth: 1, present: true, zero: true, data: false });
    const out = join(dir, 'write.raw');
    await ok(['convert', '-O', 'raw', child, out]);
    expect(Buffer.from(await readFile(out)).equals(Buffer.from(expected))).toBe(true);

    // Both moved together: the relative locator (W2ru) still finds the base.
    const moved = join(dir, 'write-moved');
    await rename(sub, moved);
    const movedOut = join(dir, 'write-moved.raw');
    await ok(['convert', '-O', 'raw', join(moved, 'child', 'child.vhd'), movedOut]);
    expect(Buffer.from(await readFile(movedOut)).equals(Buffer.from(expected))).toBe(true);

    // commit writes the child's sectors into the base.
    const movedBase = join(moved, 'base', 'base.vhd');
    expect(await ok(['commit', join(moved, 'child', 'child.vhd')])).toBe('Image committed.\n');
    const committed = join(dir, 'committed.raw');
    await ok(['convert', '-O', 'raw', movedBase, committed]);
    expect(Buffer.from(await readFile(committed)).equals(Buffer.from(expected))).toBe(true);
  });

  it('a base that is not a VHD, or is missing, is a one-line error', async () => {
    const sub = join(dir, 'errors');
    await mkdir(sub);
    await ok(['create', '-f', 'raw', join(sub, 'flat.img'), '1M']);
    expect(await runVdisk(['create', '-f', 'vpc', '-b', 'flat.img', '-F', 'raw', join(sub, 'c.vhd')])).toMatchObject({
      code: 1,
      stderr: `vdisk: ${join(sub, 'c.vhd')}: The base of a differencing VHD must be a VHD image, not raw\n`,
    });
    expect(await runVdisk(['create', '-f', 'vpc', '-b', 'missing.vhd', join(sub, 'd.vhd')])).toMatchObject({
      code: 1,
      stderr: `vdisk: ${join(sub, 'missing.vhd')}: No such file or directory\n`,
    });
    // The child whose base went away names it.
    await ok(['create', '-f', 'vpc', join(sub, 'b.vhd'), '1M']);
    await ok(['create', '-f', 'vpc', '-b', 'b.vhd', join(sub, 'e.vhd')]);
    await rm(join(sub, 'b.vhd'));
    const gone = await runVdisk(['info', join(sub, 'e.vhd')]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("Could not open backing file: Could not open 'b.vhd'");
  });
});
