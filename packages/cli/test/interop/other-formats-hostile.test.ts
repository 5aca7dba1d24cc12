/**
 * Crafted VHD, VDI and VMDK images, each a valid qemu-img image with one field at a
 * boundary: `vdisk info` must fail with qemu-img's own message (`vdisk: FILE: MESSAGE` where
 * qemu-img says `Could not open 'FILE': MESSAGE`), or open with qemu-img's virtual size when
 * qemu-img opens it. Where vdisk refuses on purpose (layouts it does not read), the case says
 * so and only checks that the error is one clear line.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from '../vdisk-process.js';
import { describeInterop, makeScratchDir, qemuImg, removeScratchDir } from './peers.js';

type Patch = (view: DataView, bytes: Uint8Array) => void;

interface Crafted {
  name: string;
  patch: Patch;
  /** vdisk refuses a layout QEMU reads: only a one-line error is expected. */
  refusedOnPurpose?: boolean;
}

/** The VHD footer's checksum, recomputed after a patch of the footer at `at`. */
function fixVhdChecksum(bytes: Uint8Array, at: number): void {
  let sum = 0;
  for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += bytes[at + i] as number;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at + 64, ~sum >>> 0);
}
const footer =
  (patch: (v: DataView) => void): Patch =>
  (view, bytes) => {
    patch(view);
    fixVhdChecksum(bytes, 0);
  };

const FORMATS: { format: string; create: string[]; cases: Crafted[] }[] = [
  {
    format: 'vpc',
    create: ['10M'],
    cases: [
      { name: 'wrong footer checksum', patch: (v) => v.setUint8(64, v.getUint8(64) ^ 1) },
      { name: 'dynamic header magic', patch: (v) => v.setUint8(512, 0x78) },
      { name: 'block size 1000', patch: (v) => v.setUint32(512 + 32, 1000) },
      { name: 'BAT of 2 entries', patch: (v) => v.setUint32(512 + 28, 2) },
      { name: 'BAT of 2^31 - 1 entries', patch: (v) => v.setUint32(512 + 28, 0x7fffffff) },
      { name: 'BAT of 2^32 - 1 entries', patch: (v) => v.setUint32(512 + 28, 0xffffffff) },
      { name: 'BAT entry past the end', patch: (v) => v.setUint32(1536, 100) },
      { name: 'BAT at 2^62', patch: (v) => v.setBigUint64(512 + 16, 2n ** 62n) },
      { name: 'header at 2^62', patch: footer((v) => v.setBigUint64(16, 2n ** 62n)) },
      { name: 'header at 2^64 - 1', patch: footer((v) => v.setBigUint64(16, 2n ** 64n - 1n)) },
      {
        name: 'Hyper-V size of 2^62',
        patch: footer((v) => {
          v.setBigUint64(48, 2n ** 62n);
          v.setUint32(28, 0x77696e20);
        }),
      },
      { name: 'largest CHS, 10M current size', patch: footer((v) => v.setUint32(56, 0xffff10ff)) },
      { name: 'Hyper-V creator', patch: footer((v) => v.setUint32(28, 0x77696e20)) },
      // QEMU reads a type-4 image as dynamic, without its parent; vdisk follows the parent,
      // and a differencing disk that names none is an error (its parent's sectors would read
      // as zeros): `Differencing VHD does not name its parent`.
      { name: 'differencing type, no parent named', patch: footer((v) => v.setUint32(60, 4)), refusedOnPurpose: true },
      { name: 'not a VHD at all', patch: (_v, b) => b.fill(0x41, 0, 8) },
    ],
  },
  {
    format: 'vdi',
    create: ['10M'],
    cases: [
      { name: 'signature', patch: (v) => v.setUint32(64, 0xbeda107e, true) },
      { name: 'version 1.2', patch: (v) => v.setUint32(68, 0x00010002, true) },
      { name: 'unaligned block map', patch: (v) => v.setUint32(340, 0x201, true) },
      { name: 'unaligned data', patch: (v) => v.setUint32(344, 0x401, true) },
      { name: 'sector size 4096', patch: (v) => v.setUint32(360, 4096, true) },
      { name: 'block size 2 MiB', patch: (v) => v.setUint32(376, 2 * 1024 * 1024, true) },
      { name: 'too few blocks for the size', patch: (v) => v.setUint32(384, 5, true) },
      { name: 'link UUID', patch: (v) => v.setUint8(424, 1) },
      { name: 'parent UUID', patch: (v) => v.setUint8(440, 1) },
      { name: '2^30 blocks', patch: (v) => v.setUint32(384, 0x40000000, true) },
      { name: 'disk size 2^60', patch: (v) => v.setBigUint64(368, 2n ** 60n, true) },
      { name: 'odd disk size', patch: (v) => v.setBigUint64(368, 10485760n - 100n, true) },
      { name: 'block map past the end', patch: (v) => v.setUint32(340, 0x10000000, true) },
      { name: 'image type 3', patch: (v) => v.setUint32(76, 3, true) },
    ],
  },
  {
    format: 'vmdk',
    create: ['10M'],
    cases: [
      { name: 'version 4', patch: (v) => v.setUint32(4, 4, true) },
      { name: 'version 3 (read-only)', patch: (v) => v.setUint32(4, 3, true) },
      { name: '1024 entries per table', patch: (v) => v.setUint32(44, 1024, true) },
      { name: '0 entries per table', patch: (v) => v.setUint32(44, 0, true) },
      { name: 'grain of 0 sectors', patch: (v) => v.setBigUint64(20, 0n, true) },
      { name: 'grain of 0x200001 sectors', patch: (v) => v.setBigUint64(20, 0x200001n, true) },
      { name: 'grain of 3 sectors', patch: (v) => v.setBigUint64(20, 3n, true) },
      { name: 'first grain past the end', patch: (v) => v.setBigUint64(64, 1000n, true) },
      { name: 'capacity 2^40 sectors', patch: (v) => v.setBigUint64(12, 2n ** 40n, true) },
      { name: 'capacity 2^45 sectors', patch: (v) => v.setBigUint64(12, 2n ** 45n, true) },
      { name: 'odd capacity', patch: (v) => v.setBigUint64(12, 20481n, true) },
      { name: 'directory past the end', patch: (v) => v.setBigUint64(56, 10n ** 6n, true) },
      { name: 'directory at 2^60 sectors (wraps to 0)', patch: (v) => v.setBigUint64(56, 2n ** 60n, true) },
      { name: 'capacity 0 with a descriptor', patch: (v) => v.setBigUint64(12, 0n, true) },
      { name: 'no descriptor', patch: (_v, b) => b.fill(0, 512, 512 * 21) },
      { name: 'compressed', patch: (v) => v.setUint16(77, 1, true), refusedOnPurpose: true },
      { name: 'COWD magic', patch: (_v, b) => b.set([0x43, 0x4f, 0x57, 0x44]), refusedOnPurpose: true },
    ],
  },
];

describeInterop('crafted VHD, VDI and VMDK images: vdisk says what qemu-img says', () => {
  let dir = '';
  beforeAll(async () => {
    assertBuilt();
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  for (const { format, create, cases } of FORMATS) {
    describe(format, () => {
      let base: Uint8Array;
      beforeAll(async () => {
        const path = join(dir, `base.${format}`);
        expect((await qemuImg('create', '-f', format, path, ...create)).code).toBe(0);
        base = new Uint8Array(await readFile(path));
      });

      for (const c of cases) {
        it(c.name, async () => {
          const path = join(dir, `${format}-${c.name.replace(/[^a-z0-9]+/gi, '-')}.img`);
          const bytes = base.slice();
          c.patch(new DataView(bytes.buffer), bytes);
          await writeFile(path, bytes);
          const theirs = await qemuImg('info', '-f', format, '--output=json', path);
          const ours = await runVdisk(['info', '-f', format, '--output=json', path]);
          if (c.refusedOnPurpose) {
            expect(ours.code).toBe(1);
            expect(ours.stderr).toMatch(new RegExp(`^vdisk: ${path}: [^\\n]+\\n$`));
            return;
          }
          if (theirs.code === 0) {
            expect(ours.stderr).toBe('');
            expect(JSON.parse(ours.stdout)['virtual-size']).toBe(JSON.parse(theirs.stdout)['virtual-size']);
            return;
          }
          // qemu-img: "Could not open 'PATH': MESSAGE" (sometimes twice, for the protocol layer).
          const message = theirs.stderr
            .trim()
            .replace(/^qemu-img: /, '')
            .replaceAll(`Could not open '${path}': `, '');
          expect(ours.stderr).toBe(`vdisk: ${path}: ${message}\n`);
          expect(ours.code).toBe(1);
        });
      }
    });
  }
});
