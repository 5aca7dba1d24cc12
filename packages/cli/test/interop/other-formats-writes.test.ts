/**
 * The reverse direction for VHD, VDI and VMDK: images vdisk creates and writes, read by
 * qemu-img. A new empty image is qemu-img create's byte for byte but for the fields QEMU
 * fills at random or from the clock (VHD: timestamp, UUID and so the checksum; VDI: the two
 * UUIDs; VMDK: the CID and the extent's file name). After vdisk writes a disk into it
 * (through the library, as `vdisk convert -O` does), `qemu-img convert -O raw` gives that
 * disk back byte for byte, `qemu-img info` the same virtual size, and `qemu-img check` finds
 * VDI and VMDK images clean.
 */
import { open, readFile, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FileSource, openFile } from '@vdisk/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/default-registry.js';
import { type DiskContents, writeDiskContents } from './disk-contents.js';
import { fileDifference } from './file-difference.js';
import { describeInterop, makeScratchDir, qemuImg, removeScratchDir, vdisk } from './peers.js';

type Format = 'vpc' | 'vdi' | 'vmdk';

/** Byte ranges QEMU fills at random or from the clock, per format (offsets in the file). */
function randomFields(format: Format, bytes: Uint8Array, options: Record<string, string>): [number, number][] {
  switch (format) {
    case 'vpc': {
      // timestamp, checksum and UUID of the footer and, in a dynamic image, its copy at 0.
      const footer = (at: number): [number, number][] => [
        [at + 24, 4],
        [at + 64, 4],
        [at + 68, 16],
      ];
      return options.subformat === 'fixed' ? footer(bytes.length - 512) : [...footer(0), ...footer(bytes.length - 512)];
    }
    case 'vdi':
      return [[392, 32]]; // image and last-snapshot UUIDs
    case 'vmdk':
      return vmdkDescriptorTail(bytes);
  }
}

/**
 * A VMDK descriptor from its CID on: the CID and the file name vary, and the text after them
 * moves with their length (`descriptorWithout` compares the rest of the text).
 */
function vmdkDescriptorTail(bytes: Uint8Array): [number, number][] {
  const at = 512 + new TextDecoder('latin1').decode(bytes.subarray(512, 512 * 21)).indexOf('CID=');
  return [[at, 512 * 21 - at]];
}

/** A VMDK descriptor's text with its CID and extent file name taken out. */
function descriptorWithout(bytes: Uint8Array): string {
  return new TextDecoder('latin1')
    .decode(bytes.subarray(512, 512 * 21))
    .replace(/\0+$/, '')
    .replace(/^CID=[0-9a-f]+$/m, 'CID=')
    .replace(/SPARSE "[^"]*"/, 'SPARSE ""');
}

function masked(format: Format, bytes: Uint8Array, options: Record<string, string>): Uint8Array {
  const copy = new Uint8Array(bytes); // a copy: a Buffer's slice() is a view
  for (const [at, length] of randomFields(format, bytes, options)) copy.fill(0, at, at + length);
  return copy;
}

/** Writes `raw`'s non-zero 64 KiB chunks into the image, in ascending order (convert's copy). */
async function writeDisk(image: string, format: Format, raw: string): Promise<number> {
  const device = await openFile(defaultRegistry(), image, { format, writable: true });
  const file = await open(raw);
  try {
    const { size } = await file.stat();
    const chunk = Buffer.alloc(64 * 1024);
    for (let at = 0; at < size; at += chunk.length) {
      const length = Math.min(chunk.length, size - at);
      await file.read(chunk, 0, length, at);
      const piece = chunk.subarray(0, length);
      if (piece.every((b) => b === 0)) continue;
      await device.write(at, piece);
    }
    await device.flush();
    return device.virtualSize;
  } finally {
    await file.close();
    await device.close();
  }
}

async function createWith(format: Format, path: string, size: number, options: Record<string, string>) {
  await unlink(path).catch(() => {});
  const target = await FileSource.create(path);
  try {
    await defaultRegistry().create(format, target, { virtualSize: size, options, filename: path });
  } finally {
    await target.close();
  }
}

interface Case {
  format: Format;
  options: Record<string, string>;
  size: number;
  contents: (size: number) => DiskContents;
}

const MiB = 1024 * 1024;
const holes = (size: number): DiskContents => ({ kind: 'holes', size, extent: 64 * 1024, seed: `w-${size}` });
const pattern = (size: number): DiskContents => ({ kind: 'pattern', size });

const CASES: Case[] = [
  { format: 'vpc', options: {}, size: 10 * MiB, contents: holes },
  { format: 'vpc', options: { force_size: 'on' }, size: 10 * MiB, contents: holes },
  { format: 'vpc', options: { subformat: 'fixed' }, size: 5 * MiB, contents: pattern },
  { format: 'vpc', options: { subformat: 'fixed', force_size: 'on' }, size: 3 * MiB + 512, contents: pattern },
  { format: 'vdi', options: {}, size: 12 * MiB, contents: holes },
  { format: 'vdi', options: { static: 'on' }, size: 4 * MiB, contents: holes },
  { format: 'vdi', options: {}, size: 3 * MiB + 1536, contents: pattern },
  { format: 'vmdk', options: {}, size: 12 * MiB, contents: holes },
  { format: 'vmdk', options: { zeroed_grain: 'on' }, size: 8 * MiB, contents: holes },
  { format: 'vmdk', options: {}, size: 2 * MiB + 3 * 512, contents: pattern },
];

const optionText = (options: Record<string, string>) =>
  Object.entries(options)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

describeInterop('VHD, VDI and VMDK images vdisk writes, read by qemu-img', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  for (const c of CASES) {
    const name = `${c.format} ${optionText(c.options) || '(defaults)'} ${c.size}`;
    describe(name, () => {
      const stem = () => join(dir, name.replace(/[^a-z0-9]+/gi, '-'));

      it('creates what qemu-img create makes, but for its random fields', async () => {
        const ours = `${stem()}.new.${c.format}`;
        const theirs = `${stem()}.qemu.${c.format}`;
        await createWith(c.format, ours, c.size, c.options);
        const args = ['create', '-f', c.format, ...(optionText(c.options) ? ['-o', optionText(c.options)] : [])];
        expect((await qemuImg(...args, theirs, String(c.size))).code).toBe(0);
        const [a, b] = [await readFile(ours), await readFile(theirs)];
        expect(a.length).toBe(b.length);
        expect(Buffer.from(masked(c.format, a, c.options)).equals(Buffer.from(masked(c.format, b, c.options)))).toBe(
          true,
        );
        if (c.format === 'vmdk') {
          expect(descriptorWithout(a)).toBe(descriptorWithout(b));
          const line = `SPARSE "${basename(ours)}"`;
          expect(a.toString('latin1').includes(line), line).toBe(true);
        }
        await Promise.all([unlink(ours), unlink(theirs)]);
      });

      it('qemu-img reads what vdisk wrote byte for byte, with the same size, and checks it clean', async () => {
        const image = `${stem()}.${c.format}`;
        const raw = `${stem()}.raw`;
        await createWith(c.format, image, c.size, c.options);
        const info = JSON.parse((await qemuImg('info', '-f', c.format, '--output=json', image)).stdout);
        const virtualSize = info['virtual-size'] as number;
        // The disk to write: the contents, at the image's own size (a VHD may be larger than asked).
        await writeDiskContents(raw, c.contents(c.size));
        const sized = await readFile(raw);
        const disk = Buffer.alloc(virtualSize);
        sized.copy(disk, 0, 0, Math.min(sized.length, virtualSize));
        await writeFile(raw, disk);
        expect(await writeDisk(image, c.format, raw)).toBe(virtualSize);

        const back = `${stem()}.back.raw`;
        expect((await qemuImg('convert', '-f', c.format, '-O', 'raw', image, back)).code).toBe(0);
        expect(await fileDifference(back, raw)).toBeUndefined();
        if (c.format !== 'vpc') {
          const check = await qemuImg('check', '-f', c.format, image);
          expect(check.stdout).toContain('No errors were found on the image.');
          expect(check.code).toBe(0);
        }
      });
    });
  }
});

describeInterop('vdisk create -f and convert -O vpc, vdi and vmdk, read by qemu-img', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  for (const c of CASES) {
    const name = `${c.format} ${optionText(c.options) || '(defaults)'} ${c.size}`;
    it(`vdisk convert -O ${name}: qemu-img reads the disk back, with zeros to the image's size`, async () => {
      const stem = join(dir, name.replace(/[^a-z0-9]+/gi, '-'));
      const raw = `${stem}.raw`;
      const image = `${stem}.${c.format}`;
      await writeDiskContents(raw, c.contents(c.size));
      // convert's -o is the source's open options; the target's creation options are --target-options.
      const args = [
        'convert',
        '-O',
        c.format,
        ...(optionText(c.options) ? ['--target-options', optionText(c.options)] : []),
      ];
      const result = await vdisk(...args, raw, image);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const back = `${stem}.back.raw`;
      expect((await qemuImg('convert', '-f', c.format, '-O', 'raw', image, back)).code).toBe(0);
      const [source, read] = [await readFile(raw), await readFile(back)];
      expect(read.length).toBeGreaterThanOrEqual(source.length);
      expect(read.subarray(0, source.length).equals(source)).toBe(true);
      expect(read.subarray(source.length).every((b) => b === 0)).toBe(true);
      if (c.format !== 'vpc') {
        const check = await qemuImg('check', '-f', c.format, image);
        expect(check.stdout).toContain('No errors were found on the image.');
      }
      if (c.format === 'vmdk')
        expect((await readFile(image)).toString('latin1')).toContain(`SPARSE "${basename(image)}"`);
    });
  }

  it("vdisk create -f FMT prints qemu-img's line and makes an image qemu-img sizes as vdisk does", async () => {
    for (const format of ['vpc', 'vdi', 'vmdk'] as const) {
      const image = join(dir, `created.${format}`);
      const result = await vdisk('create', '-f', format, image, '10M');
      expect(result.stdout).toBe(`Formatting '${image}', fmt=${format} size=10485760\n`);
      const theirs = JSON.parse((await qemuImg('info', '-f', format, '--output=json', image)).stdout);
      const ours = JSON.parse((await vdisk('info', '--output=json', image)).stdout);
      expect(ours['virtual-size']).toBe(theirs['virtual-size']);
      expect(ours.format).toBe(format);
    }
  });
});
