import { appendFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = join(tmpdir(), `vdisk-check-repair-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A 10 MiB Bochs image (extents of 16 KiB, slots of 512 + 16384 bytes) with one written extent and `orphans` slots after it. */
async function imageWithOrphans(name: string, orphans: number): Promise<{ path: string; size: number }> {
  const path = join(dir, name);
  expect((await runVdisk(['create', '-f', 'bochs', path, '10M'])).code).toBe(0);
  expect((await runVdisk(['io', '-q', '-c', 'write -P 0x5a 0 4k', '-c', 'flush', path])).code).toBe(0);
  const size = (await stat(path)).size;
  // What a crash between a slot's write and its catalog entry leaves: slots no entry points to.
  await appendFile(path, Buffer.alloc(orphans * (512 + 16384), 0x77));
  return { path, size };
}

describe('vdisk check -r', { timeout: 30_000 }, () => {
  it('-r leaks reclaims orphan slots at the end, says so as qemu-img does, and exits as the repaired image', async () => {
    const { path, size } = await imageWithOrphans('orphans.bochs', 2);
    expect(await runVdisk(['check', path])).toMatchObject({
      code: 3,
      stdout:
        'Leaked: Slot 1 is not used by any extent\nLeaked: Slot 2 is not used by any extent\n\n' +
        '2 leaked extents were found on the image.\nThis means waste of disk space, but no harm to data.\n',
    });
    expect(await runVdisk(['check', '-r', 'leaks', path])).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      stdout:
        'The following inconsistencies were found and repaired:\n\n    2 leaked extents\n    0 corruptions\n\n' +
        'Double checking the fixed image now...\nNo errors were found on the image.\n',
    });
    expect((await stat(path)).size).toBe(size);
    // The data is still there, and a second repair finds nothing to do.
    expect((await runVdisk(['io', '-r', '-c', 'read -P 0x5a 0 4k', path])).code).toBe(0);
    expect(await runVdisk(['check', '-r', 'all', path])).toMatchObject({
      code: 0,
      stdout: 'No errors were found on the image.\n',
    });
  });

  it("--output=json adds qemu-img's leaks-fixed and corruptions-fixed", async () => {
    const { path } = await imageWithOrphans('json.bochs', 1);
    const result = await runVdisk(['check', '-r', 'leaks', '--output=json', path]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      filename: path,
      format: 'bochs',
      'check-errors': 0,
      corruptions: 0,
      leaks: 0,
      'leaks-fixed': 1,
      'corruptions-fixed': 0,
      problems: [],
    });
  });

  it('without -r, check changes nothing; -r on a format without check exits 63; a bad mode is a usage error', async () => {
    const { path } = await imageWithOrphans('untouched.bochs', 1);
    const before = await readFile(path);
    expect((await runVdisk(['check', path])).code).toBe(3);
    expect(Buffer.compare(await readFile(path), before)).toBe(0);

    const raw = join(dir, 'plain.raw');
    expect((await runVdisk(['create', raw, '1M'])).code).toBe(0);
    expect(await runVdisk(['check', '-r', 'leaks', '-f', 'raw', raw])).toMatchObject({
      code: 63,
      stderr: `vdisk: ${raw}: This image format (raw) does not support checks\n`,
    });
    const bad = await runVdisk(['check', '-r', 'some', path]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^vdisk: option '-r, --repair <mode>' argument 'some' is invalid/);
  });
});
