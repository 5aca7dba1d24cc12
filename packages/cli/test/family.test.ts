/**
 * The Bochs family through the built `vdisk`: redologs over their base (info's chain, map's
 * depth, the raw-guess warning, Bochs's coherency check), commit with and without -b, and
 * sparse layers followed only when the format is named.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBochsImage, buildSparseImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from './vdisk-process.js';

let dir: string;
const savedTz = process.env.TZ;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-family-'));
  process.env.TZ = 'UTC'; // Bochs's timestamps are local time: the spawned vdisk inherits this
});
afterAll(async () => {
  process.env.TZ = savedTz;
  await rm(dir, { recursive: true, force: true });
});

const DISK = 1032192;
const baseBytes = () => new Uint8Array(DISK).map((_, i) => ((i >> 9) % 250) + 1);
const written = [
  { offset: 4096, data: new Uint8Array(1024).fill(0xaa) },
  { offset: 512 * 1000, data: new Uint8Array(512).fill(0xbb) },
];
const redolog = (timestamp = 0) => buildBochsImage({ diskSize: DISK, subtype: 'Undoable', timestamp, writes: written });
const expectedDisk = () => {
  const disk = baseBytes();
  for (const { offset, data } of written) disk.set(data, offset);
  return disk;
};

/** A base and its redolog in a fresh directory, named by Bochs's rule. */
async function pair(name: string, timestamp = 0): Promise<{ base: string; log: string }> {
  const sub = await mkdtemp(join(dir, `${name}-`));
  const base = join(sub, 'disk.img');
  await writeFile(base, baseBytes());
  await writeFile(`${base}.redolog`, redolog(timestamp));
  return { base, log: `${base}.redolog` };
}

describe('redologs', () => {
  it('info shows the chain: backing file lines, qemu-img JSON keys, one warning for the raw guess', async () => {
    const { base, log } = await pair('info');
    const human = await runVdisk(['info', log]);
    expect(human.code).toBe(0);
    expect(human.stderr).toBe(`WARNING: Image format was not specified for '${base}' and probing guessed raw.\n`);
    const lines = human.stdout.split('\n');
    expect(lines.slice(0, 2)).toEqual([`image: ${log}`, 'file format: bochs-redolog']);
    expect(lines).toContain(`backing file: disk.img (actual path: ${base})`);
    expect(lines).toContain('backing file format: raw');
    const json = await runVdisk(['info', '--output=json', '-o', 'base-format=raw', log]);
    expect(json.stderr).toBe(''); // the format named: no warning
    expect(JSON.parse(json.stdout)).toMatchObject({
      format: 'bochs-redolog',
      'virtual-size': DISK,
      'backing-filename': 'disk.img',
      'full-backing-filename': base,
      'backing-filename-format': 'raw',
    });
  });

  it('map gives each run its depth; convert reads base plus redolog', async () => {
    const { log } = await pair('map');
    const map = await runVdisk(['map', '--output=json', '-o', 'base-format=raw', log]);
    expect(map.code).toBe(0);
    const runs = JSON.parse(map.stdout) as Array<Record<string, unknown>>;
    expect(runs.slice(0, 3)).toEqual([
      { start: 0, length: 4096, depth: 1, present: true, zero: false, data: true, offset: 0 },
      { start: 4096, length: 1024, depth: 0, present: true, zero: false, data: true, offset: expect.any(Number) },
      { start: 5120, length: 512 * 1000 - 5120, depth: 1, present: true, zero: false, data: true, offset: 5120 },
    ]);
    const out = join(dir, 'map-converted.raw');
    const convert = await runVdisk(['convert', '-o', 'base-format=raw', '-O', 'raw', log, out]);
    expect(convert.stderr).toBe('');
    expect(Buffer.from(await readFile(out)).equals(Buffer.from(expectedDisk()))).toBe(true);
  });

  it("-f bochs stays QEMU's: a redolog is not in its format", async () => {
    const { log } = await pair('qemu');
    const result = await runVdisk(['info', '-f', 'bochs', log]);
    expect(result).toMatchObject({ code: 1, stderr: `vdisk: ${log}: Image not in Bochs format\n` });
  });

  it("refuses a stale redolog with Bochs's message; -o check-coherency=off reads anyway", async () => {
    // The redolog was stamped at 2026-01-02 03:04:06 UTC; the base's mtime moved since.
    const stamp = (6 >> 1) | (4 << 5) | (3 << 11) | ((2 | (1 << 5) | ((2026 - 1980) << 9)) << 16);
    const { base, log } = await pair('stale', stamp);
    await utimes(base, new Date('2026-01-02T03:04:06Z'), new Date('2026-01-02T03:04:07Z'));
    expect((await runVdisk(['info', '-o', 'base-format=raw', log])).code).toBe(0); // 07 s is 06 at 2 s resolution
    await utimes(base, new Date(), new Date('2026-01-02T03:04:08Z'));
    const stale = await runVdisk(['info', '-o', 'base-format=raw', log]);
    expect(stale).toMatchObject({
      code: 1,
      stderr: `vdisk: ${log}: unexpected modification time of the r/o disk (should be 02.01.2026 03:04:06)\n`,
    });
    const forced = await runVdisk(['info', '-o', 'base-format=raw,check-coherency=off', log]);
    expect(forced.code).toBe(0);
  });

  it('a missing base, and a redolog named otherwise without -o base, are one-line errors', async () => {
    const sub = await mkdtemp(join(dir, 'missing-'));
    const log = join(sub, 'gone.img.redolog');
    await writeFile(log, redolog());
    expect(await runVdisk(['info', log])).toMatchObject({
      code: 1,
      stderr: `vdisk: ${log}: Could not open backing file: Could not open 'gone.img': No such file or directory\n`,
    });
    const other = join(sub, 'journal.log');
    await writeFile(other, redolog());
    const result = await runVdisk(['info', other]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/name the redolog BASE\.redolog, or give -o base=PATH\n$/);
    const base = join(sub, 'flat.img');
    await writeFile(base, baseBytes());
    expect((await runVdisk(['info', '-o', `base=${base},base-format=raw`, other])).code).toBe(0);
  });

  it('commit writes the redolog into the base and removes it; the base is base plus redolog', async () => {
    const { base, log } = await pair('commit');
    const result = await runVdisk(['commit', '-o', 'base-format=raw', log]);
    expect(result).toMatchObject({ code: 0, stdout: 'Image committed.\n', stderr: '' });
    expect(Buffer.from(await readFile(base)).equals(Buffer.from(expectedDisk()))).toBe(true);
    expect(existsSync(log)).toBe(false);
  });

  it('commit -b keeps BASE.orig and FILE.orig, as bximage; a backup that exists is never overwritten', async () => {
    const { base, log } = await pair('backup');
    const result = await runVdisk(['commit', '-b', '-o', 'base-format=raw', log]);
    expect(result.code).toBe(0);
    expect(Buffer.from(await readFile(`${base}.orig`)).equals(Buffer.from(baseBytes()))).toBe(true);
    expect(Buffer.from(await readFile(`${log}.orig`)).equals(Buffer.from(redolog()))).toBe(true);
    expect(existsSync(log)).toBe(false);
    // A rerun (as after a crash) with the backup in place: it stays the first run's.
    await writeFile(log, redolog());
    const before = await stat(`${base}.orig`);
    expect((await runVdisk(['commit', '-b', '-o', 'base-format=raw', log])).code).toBe(0);
    expect(Buffer.from(await readFile(`${base}.orig`)).equals(Buffer.from(baseBytes()))).toBe(true);
    expect((await stat(`${base}.orig`)).mtimeMs).toBe(before.mtimeMs);
    expect(Buffer.from(await readFile(base)).equals(Buffer.from(expectedDisk()))).toBe(true);
  });

  it('create -f bochs-redolog takes its size from the base: -o base=, and qemu-img -b BASE -F FMT', async () => {
    const sub = await mkdtemp(join(dir, 'create-'));
    const base = join(sub, 'disk.img');
    await writeFile(base, baseBytes());
    const log = `${base}.redolog`;
    const made = await runVdisk(['create', '-f', 'bochs-redolog', '-o', `base=${base},base-format=raw`, log]);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    expect(made.stdout).toBe(`Formatting '${log}', fmt=bochs-redolog size=${DISK} base=${base} base-format=raw\n`);
    const info = JSON.parse((await runVdisk(['info', '--output=json', '-o', 'base-format=raw', log])).stdout);
    expect(info).toMatchObject({ format: 'bochs-redolog', 'virtual-size': DISK, 'backing-filename': 'disk.img' });
    expect(info['format-specific'].data).toMatchObject({ subtype: 'Undoable', timestamp: 0, 'allocated-extents': 0 });
    // An empty redolog reads as its base.
    const out = join(sub, 'out.raw');
    expect((await runVdisk(['convert', '-o', 'base-format=raw', '-O', 'raw', log, out])).code).toBe(0);
    expect(Buffer.from(await readFile(out)).equals(Buffer.from(baseBytes()))).toBe(true);
    // qemu-img's spelling: -b relative to the new image's directory; another name gets a warning.
    const other = join(sub, 'journal.log');
    const withB = await runVdisk(['create', '-f', 'bochs-redolog', '-b', 'disk.img', '-F', 'raw', other]);
    expect(withB.code).toBe(0);
    expect(withB.stderr).toBe(
      `vdisk: warning: ${other} is not named disk.img.redolog: open it with -o base=${join(sub, 'disk.img')}\n`,
    );
    expect((await runVdisk(['info', '-o', `base=${base},base-format=raw`, other])).code).toBe(0);
    expect(
      await runVdisk(['create', '-f', 'bochs-redolog', '-b', 'missing.img', join(sub, 'x.redolog')]),
    ).toMatchObject({
      code: 1,
      stderr: `vdisk: ${join(sub, 'missing.img')}: No such file or directory\n`,
    });
    // Neither -b nor SIZE: the base is FILE without .redolog, the name Bochs will look for.
    const hd = join(sub, 'hd.bochs');
    await writeFile(hd, buildBochsImage({ diskSize: DISK }));
    const implied = await runVdisk(['create', '-f', 'bochs-redolog', `${hd}.redolog`]);
    expect(implied).toMatchObject({ code: 0, stderr: '' });
    expect(implied.stdout).toBe(`Formatting '${hd}.redolog', fmt=bochs-redolog size=${DISK} base=hd.bochs\n`);
    expect(JSON.parse((await runVdisk(['info', '--output=json', `${hd}.redolog`])).stdout)).toMatchObject({
      'virtual-size': DISK,
      'backing-filename': 'hd.bochs',
    });
    expect(await runVdisk(['create', '-f', 'bochs-redolog', join(sub, 'none.redolog')])).toMatchObject({
      code: 1,
      stderr: `vdisk: ${join(sub, 'none')}: No such file or directory\n`,
    });
  });

  it('commit of an image without a base is an error', async () => {
    const file = join(dir, 'plain.bochs');
    await writeFile(file, buildBochsImage({ diskSize: DISK }));
    expect(await runVdisk(['commit', file])).toMatchObject({
      code: 1,
      stderr: `vdisk: ${file}: Image does not have a backing file\n`,
    });
  });
});

describe('sparse layers', () => {
  const PAGE = 32768;
  const lower = buildSparseImage({ diskSize: DISK, pages: [{ page: 0, data: new Uint8Array(PAGE).fill(0x10) }] });
  const upper = buildSparseImage({ diskSize: DISK, pages: [{ page: 1, data: new Uint8Array(PAGE).fill(0x21) }] });

  it('-f bochs-sparse follows c.img.1 over c.img.0; probing never does', async () => {
    const sub = await mkdtemp(join(dir, 'layers-'));
    await writeFile(join(sub, 'c.img.0'), lower);
    await writeFile(join(sub, 'c.img.1'), upper);
    const named = await runVdisk(['info', '-f', 'bochs-sparse', join(sub, 'c.img.1')]);
    expect(named.code).toBe(0);
    expect(named.stdout).toContain(
      `backing file: c.img.0 (actual path: ${join(sub, 'c.img.0')})\nbacking file format: bochs-sparse\n`,
    );
    const probed = await runVdisk(['info', join(sub, 'c.img.1')]);
    expect(probed.stdout).toContain('file format: bochs-sparse');
    expect(probed.stdout).not.toContain('backing file');
    // A layer that is the top under another name (a symlink): a loop, refused by real path.
    await rm(join(sub, 'c.img.0'));
    await symlink('c.img.1', join(sub, 'c.img.0'));
    const loop = await runVdisk(['info', '-f', 'bochs-sparse', join(sub, 'c.img.1')]);
    expect(loop).toMatchObject({
      code: 1,
      stderr: `vdisk: ${join(sub, 'c.img.1')}: Backing file 'c.img.0' would make a loop in the backing chain\n`,
    });
    await rm(join(sub, 'c.img.0'));
    await writeFile(join(sub, 'c.img.0'), lower);
    const out = join(sub, 'flat.raw');
    expect((await runVdisk(['convert', '-f', 'bochs-sparse', '-O', 'raw', join(sub, 'c.img.1'), out])).code).toBe(0);
    const flat = await readFile(out);
    expect(flat.subarray(0, PAGE).every((b) => b === 0x10)).toBe(true);
    expect(flat.subarray(PAGE, 2 * PAGE).every((b) => b === 0x21)).toBe(true);
    expect(flat.subarray(2 * PAGE).every((b) => b === 0)).toBe(true);
  });
});
