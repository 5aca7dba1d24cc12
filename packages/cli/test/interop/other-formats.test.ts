/**
 * VHD (vpc), VDI and VMDK images that qemu-img and bximage make, read by vdisk: probing finds
 * the format (a fixed VHD too, whose footer is only at its end), `vdisk convert -O raw` is
 * byte-identical to `qemu-img convert -O raw`, `vdisk info` gives qemu-img's sizes, and
 * `vdisk map --output=json` is qemu-img map's, run for run and field for field, for the
 * dynamic layouts. A fixed VHD's and a static VDI's qemu-img map follows the host file's
 * holes (QEMU asks the file system with SEEK_DATA), which Node cannot see: for those, the map
 * is checked to be one data run at the same offsets instead.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from '../vdisk-process.js';
import { type DiskContents, writeDiskContents } from './disk-contents.js';
import { fileDifference } from './file-difference.js';
import { describeInterop, makeScratchDir, peerPaths, qemuImg, removeScratchDir, run } from './peers.js';

interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
}

interface Case {
  name: string;
  format: 'vpc' | 'vdi' | 'vmdk';
  /** Makes the image at `path` in `dir`. */
  make: (path: string, dir: string) => Promise<void>;
  /** qemu-img map follows host-file holes for this layout (fixed VHD, static VDI). */
  hostHoles?: boolean;
}

async function ok(command: string, args: string[]): Promise<void> {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}${result.stdout.slice(-300)}`);
}

const create = (format: string, size: string, options?: string) => async (path: string) => {
  await ok(peerPaths['qemu-img'] as string, ['create', '-f', format, ...(options ? ['-o', options] : []), path, size]);
};

/** `qemu-img convert` of a raw disk made from `contents`. */
const converted = (format: string, contents: DiskContents, options?: string) => async (path: string, dir: string) => {
  const raw = join(dir, `${contents.kind}-${contents.size}.raw`);
  await writeDiskContents(raw, contents);
  await ok(peerPaths['qemu-img'] as string, [
    'convert',
    '-f',
    'raw',
    '-O',
    format,
    ...(options ? ['-o', options] : []),
    raw,
    path,
  ]);
};

/** bximage's `-hd` must come before `-imgmode` (CONTRACT.md). */
const bximage = (mode: string, source?: DiskContents) => async (path: string, dir: string) => {
  await unlink(path).catch(() => {});
  const bx = peerPaths.bximage as string;
  if (!source) {
    await ok(bx, ['-func=create', '-hd=10M', `-imgmode=${mode}`, '-q', path]);
    return;
  }
  const raw = join(dir, `bx-${source.kind}-${source.size}.raw`);
  await writeDiskContents(raw, source);
  await ok(bx, ['-func=convert', `-imgmode=${mode}`, '-q', raw, path]);
};

const MiB = 1024 * 1024;
const CYLINDER = 16 * 63 * 512;
const holes = (size: number, extent: number): DiskContents => ({ kind: 'holes', size, extent, seed: `holes-${size}` });
const pattern = (size: number): DiskContents => ({ kind: 'pattern', size });
const random = (size: number): DiskContents => ({ kind: 'random', size, seed: `random-${size}` });

const CASES: Case[] = [
  { name: 'vpc: qemu-img create 10M', format: 'vpc', make: create('vpc', '10M') },
  { name: 'vpc: qemu-img create 10M force_size', format: 'vpc', make: create('vpc', '10M', 'force_size=on') },
  {
    name: 'vpc: qemu-img create 10M subformat=fixed',
    format: 'vpc',
    make: create('vpc', '10M', 'subformat=fixed'),
    hostHoles: true,
  },
  { name: 'vpc: convert of a disk with holes', format: 'vpc', make: converted('vpc', holes(20 * MiB, 256 * 1024)) },
  {
    name: 'vpc: convert with holes, force_size',
    format: 'vpc',
    make: converted('vpc', holes(12 * MiB + 4096, 128 * 1024), 'force_size=on'),
  },
  { name: 'vpc: convert of a pattern disk', format: 'vpc', make: converted('vpc', pattern(5 * MiB + 3 * 512)) },
  {
    name: 'vpc: convert to fixed of random data',
    format: 'vpc',
    make: converted('vpc', random(3 * MiB), 'subformat=fixed'),
    hostHoles: true,
  },
  { name: 'vpc: bximage -hd=10M -imgmode=vpc', format: 'vpc', make: bximage('vpc') },
  // bximage sizes a VHD by whole cylinders of 16 x 63 sectors and fails on a source whose last
  // sectors fall beyond them: the source is 16 such cylinders.
  {
    name: 'vpc: bximage convert of a disk with holes',
    format: 'vpc',
    make: bximage('vpc', holes(16 * CYLINDER, 128 * 1024)),
  },
  { name: 'vdi: qemu-img create 10M', format: 'vdi', make: create('vdi', '10M') },
  {
    name: 'vdi: qemu-img create 10M static=on',
    format: 'vdi',
    make: create('vdi', '10M', 'static=on'),
    hostHoles: true,
  },
  { name: 'vdi: qemu-img create of an odd size', format: 'vdi', make: create('vdi', '3000001') },
  { name: 'vdi: convert of a disk with holes', format: 'vdi', make: converted('vdi', holes(40 * MiB, 512 * 1024)) },
  { name: 'vdi: convert of a pattern disk', format: 'vdi', make: converted('vdi', pattern(3 * MiB + 512)) },
  {
    name: 'vdi: convert to static of a disk with holes',
    format: 'vdi',
    make: converted('vdi', holes(12 * MiB, 256 * 1024), 'static=on'),
    hostHoles: true,
  },
  { name: 'vmdk: qemu-img create 10M', format: 'vmdk', make: create('vmdk', '10M') },
  { name: 'vmdk: convert of a disk with holes', format: 'vmdk', make: converted('vmdk', holes(12 * MiB, 64 * 1024)) },
  { name: 'vmdk: convert of a pattern disk', format: 'vmdk', make: converted('vmdk', pattern(2 * MiB + 1536)) },
  {
    name: 'vmdk: convert with zeroed_grain=on',
    format: 'vmdk',
    make: converted('vmdk', holes(8 * MiB, 128 * 1024), 'zeroed_grain=on'),
  },
  {
    name: 'vmdk: zeroed grains written by qemu-io',
    format: 'vmdk',
    make: async (path) => {
      await create('vmdk', '4M', 'zeroed_grain=on')(path);
      await ok(peerPaths['qemu-io'] as string, [
        '-f',
        'vmdk',
        '-c',
        'write -P 0xab 0 128k',
        '-c',
        'write -z 64k 128k',
        '-c',
        'write -z 1M 64k',
        '-c',
        'write -P 0x5c 3M 1536',
        path,
      ]);
    },
  },
  {
    // qemu-img create -b: the descriptor names the parent; the map walks into it (depth 1).
    name: 'vmdk: an overlay over a VMDK base',
    format: 'vmdk',
    make: async (path) => {
      const base = `${path}.base.vmdk`;
      await create('vmdk', '4M')(base);
      await ok(peerPaths['qemu-io'] as string, ['-f', 'vmdk', '-c', 'write -P 0x11 0 1M', base]);
      await ok(peerPaths['qemu-img'] as string, ['create', '-f', 'vmdk', '-b', base, '-F', 'vmdk', path]);
      await ok(peerPaths['qemu-io'] as string, [
        '-f',
        'vmdk',
        '-c',
        'write -P 0x22 512k 64k',
        '-c',
        'write -z 3M 64k',
        path,
      ]);
    },
  },
  { name: 'vmdk: bximage -hd=10M -imgmode=vmware4', format: 'vmdk', make: bximage('vmware4') },
  {
    name: 'vmdk: bximage convert of a disk with holes',
    format: 'vmdk',
    make: bximage('vmware4', holes(16 * CYLINDER, 64 * 1024)),
  },
];

describeInterop('VHD, VDI and VMDK images made by qemu-img and bximage', () => {
  let dir = '';
  beforeAll(async () => {
    assertBuilt();
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  for (const c of CASES) {
    describe(c.name, () => {
      const path = () => join(dir, `${c.name.replace(/[^a-z0-9]+/gi, '-')}.${c.format}`);
      beforeAll(() => c.make(path(), dir), 60_000);

      it(`probes as ${c.format}`, async () => {
        const result = await runVdisk(['probe', '--output=json', path()]);
        expect(result.code).toBe(0);
        expect(JSON.parse(result.stdout)).toMatchObject({ format: c.format, guessed: false });
      });

      it('info gives the virtual size qemu-img gives', async () => {
        const ours = JSON.parse((await runVdisk(['info', '--output=json', path()])).stdout);
        const theirs = JSON.parse((await qemuImg('info', '-f', c.format, '--output=json', path())).stdout);
        expect(ours.format).toBe(c.format);
        expect(ours['virtual-size']).toBe(theirs['virtual-size']);
      });

      it('convert -O raw is byte-identical to qemu-img convert -O raw', async () => {
        const ours = `${path()}.vdisk.raw`;
        const theirs = `${path()}.qemu.raw`;
        const result = await runVdisk(['convert', '-O', 'raw', path(), ours]);
        expect(result.stderr).toBe('');
        expect((await qemuImg('convert', '-f', c.format, '-O', 'raw', path(), theirs)).code).toBe(0);
        expect(await fileDifference(ours, theirs)).toBeUndefined();
        await Promise.all([unlink(ours), unlink(theirs)]);
      });

      it(
        c.hostHoles ? 'map is one data run at the same file offsets' : 'map equals qemu-img map, run for run',
        async () => {
          const result = await runVdisk(['map', '--output=json', path()]);
          expect(result.stderr).toBe('');
          const ours = JSON.parse(result.stdout) as MapEntry[];
          const theirs = JSON.parse(
            (await qemuImg('map', '-f', c.format, '--output=json', path())).stdout,
          ) as MapEntry[];
          if (!c.hostHoles) {
            expect(ours).toEqual(theirs);
            return;
          }
          const size = theirs.reduce((sum, e) => sum + e.length, 0);
          const base = ours[0]?.offset ?? -1;
          expect(ours).toEqual([
            { start: 0, length: size, depth: 0, present: true, zero: false, data: true, offset: base },
          ]);
          for (const e of theirs.filter((t) => t.data)) expect((e.offset ?? -1) - e.start).toBe(base);
        },
      );
    });
  }
});
