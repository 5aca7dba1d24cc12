/**
 * Hostile Bochs images, built in memory: every header field at its boundaries, catalog
 * entries that point anywhere, truncated files and near-miss magics (the hostile-input
 * issue's list). Like the builder, this is written from the spec and shares no code with
 * the driver. Each image is a valid one with a few bytes poked, the way QEMU's iotest 078
 * makes its cases, so a reader can see exactly what is hostile about it.
 */
import type { VdiskErrorCode } from '@vdisk/core';
import { type BochsImageSpec, buildBochsImage, EMPTY_BOCHS_SPEC } from './image-builder.js';

/** Header field offsets, from FORMAT.md §1 (kept apart from the driver's own table on purpose). */
const AT = { magic: 0x00, type: 0x20, subtype: 0x30, version: 0x40, header: 0x44, catalog: 0x48 } as const;
const AT_BITMAP = 0x4c;
const AT_EXTENT = 0x50;
const AT_DISK_V2 = 0x58;

/** A sector of 0xab at virtual offset 0 (extent 0, slot 0) and one of 0xcd at 4608 (extent 1, sector 1, slot 1). */
export const WRITTEN_SPEC: BochsImageSpec = {
  ...EMPTY_BOCHS_SPEC,
  writes: [
    { offset: 0, data: new Uint8Array(512).fill(0xab) },
    { offset: 4608, data: new Uint8Array(512).fill(0xcd) },
  ],
};
/** WRITTEN_SPEC's layout: header 512, catalog 512 entries, data from 2560, slots of 4608 bytes; 11776 bytes. */
export const WRITTEN_SIZE = 2560 + 2 * 4608;

function le32(image: Uint8Array, offset: number, value: number): Uint8Array {
  new DataView(image.buffer, image.byteOffset).setUint32(offset, value >>> 0, true);
  return image;
}

function le64(image: Uint8Array, offset: number, value: bigint): Uint8Array {
  new DataView(image.buffer, image.byteOffset).setBigUint64(offset, value, true);
  return image;
}

function ascii(image: Uint8Array, offset: number, text: string): Uint8Array {
  for (let i = 0; i < text.length; i++) image[offset + i] = text.charCodeAt(i);
  return image;
}

const written = () => buildBochsImage(WRITTEN_SPEC);
/** The written image with one uint32 header field set, as iotest 078 pokes its cases. */
const poke32 = (offset: number, value: number) => () => le32(written(), offset, value);
/** The written image with catalog entry `index` set to `value`. */
const entry = (index: number, value: number) => (image: Uint8Array) => le32(image, 512 + 4 * index, value);
const truncated = (length: number) => () => written().slice(0, length);

/**
 * What qemu-img 7.2 does with an image, as observed on this project's machines (the
 * interop test hostile-qemu.test.ts runs it again on every image, so this stays true).
 */
export interface QemuOutcome {
  /** The format `qemu-img info` (no -f) probes; `bochs` also when that open then fails. */
  probe: 'bochs' | 'raw';
  /** `qemu-img info -f bochs`: the virtual size, or the message after `Could not open 'FILE': `. */
  open: number | string;
  /** `qemu-io -r -f bochs -c 'read 0 512'` when the open succeeds: `ok`, or the message after `read failed: `. */
  read?: string;
  /**
   * `qemu-img convert -f bochs -O raw` when the open succeeds: the sha256 of the output, or
   * the message after `qemu-img: `. Absent when the disk is too large to convert in a test.
   */
  convert?: string;
}

/** Where vdisk does not do what QEMU does, what it does instead, and why. */
export interface VdiskDifference {
  /** What vdisk probes the file as, where it differs from QEMU (the Bochs family's other formats). */
  probe?: string;
  /** `ok`, or the code of the VdiskError that reading the first sector throws. */
  read?: 'ok' | VdiskErrorCode;
  /** The sha256 of the whole virtual disk as vdisk reads it, or the code of the error. */
  convert?: string;
  why: string;
}

export interface HostileImage {
  /** A short unique name, usable as a file name. */
  name: string;
  /** What is hostile about it. */
  what: string;
  bytes: () => Uint8Array;
  qemu: QemuOutcome;
  /** Absent: vdisk does what QEMU does (with its messages for open; probing raw is reported as guessed). */
  vdisk?: VdiskDifference;
  /** vdisk's own `check` (QEMU has none for Bochs), for the images that open. */
  check?: 'clean' | 'corruption' | 'leaks';
}

/** The sha256 of what `qemu-img convert` wrote, by what the disk holds (1032192 bytes unless said). */
export const CONVERTED = {
  /** A disk of 0 bytes. */
  empty: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  /** Zeros only. */
  zeros: '85e614bc2ef17bec493b849dbeea34687ba52d7b1fedc4e5fc3729b0fb059aad',
  /** WRITTEN_SPEC's disk: sector 0 of 0xab, and 0xcd at 4608. */
  written: '0912604fa0a6450e6706b108bc597dcdd609ff2d12ed25102c367f3de74c9c47',
  /** Only the 0xcd sector at 4608. */
  secondSectorOnly: '3ba93d2be3a2d3df4632f743b80b57bd97e722ef402f49f8d18ba7b265ac2cd0',
  /** Extent 1 reads slot 0: 0xab at 0 and at 4096. */
  firstSectorTwice: '055699f69eda6c911cfaab397f7b5d776c0eb1274f9efca87aa75b6a7bab30a5',
} as const;

const BEYOND_2_53 =
  'CONTRACT.md: an offset past 2^53 is a clear error at read, never a rounded read. vdisk computes it exactly and refuses it (EOVERFLOW)';

/** The hostile images, by the groups. */
export const HOSTILE_IMAGES: readonly HostileImage[] = [
  // A baseline for each group: the images that the others are poked from.
  {
    name: 'valid-empty',
    what: "QEMU's empty.bochs",
    bytes: () => buildBochsImage(EMPTY_BOCHS_SPEC),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'clean',
  },
  {
    name: 'valid-written',
    what: 'two sectors written',
    bytes: written,
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.written },
    check: 'clean',
  },
  {
    name: 'valid-v1',
    what: 'version 1: disk size at 0x54',
    bytes: () => buildBochsImage({ ...WRITTEN_SPEC, version: 1 }),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.written },
    check: 'clean',
  },

  // catalog (0x48)
  {
    name: 'catalog-0',
    what: 'catalog 0 for a 1 MiB disk',
    bytes: poke32(AT.catalog, 0),
    qemu: { probe: 'bochs', open: 'Catalog size is too small for this disk size' },
  },
  {
    name: 'catalog-0-disk-0',
    what: 'catalog 0 and disk 0',
    bytes: () => buildBochsImage({ diskSize: 0, catalogSize: 0, bitmapSize: 1, extentSize: 4096 }),
    qemu: { probe: 'bochs', open: 0, read: 'Input/output error', convert: CONVERTED.empty },
    check: 'clean',
    vdisk: {
      read: 'ERANGE',
      why: 'Both refuse to read past the virtual size; vdisk says so in its own words instead of Input/output error',
    },
  },
  {
    name: 'catalog-1',
    what: 'catalog 1',
    bytes: poke32(AT.catalog, 1),
    qemu: { probe: 'bochs', open: 'Catalog size is too small for this disk size' },
  },
  {
    name: 'catalog-exact-fit',
    what: 'catalog 252 = disk / extent exactly',
    bytes: () => buildBochsImage({ ...WRITTEN_SPEC, catalogSize: 252 }),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.written },
    check: 'clean',
  },
  {
    name: 'catalog-one-short',
    what: 'catalog 251, one entry short',
    bytes: () => buildBochsImage({ ...WRITTEN_SPEC, catalogSize: 251 }),
    qemu: { probe: 'bochs', open: 'Catalog size is too small for this disk size' },
  },
  {
    name: 'catalog-0x100000-poked',
    what: 'catalog 0x100000: the catalog runs 4 MiB past the end of the file',
    bytes: poke32(AT.catalog, 0x100000),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
  },
  {
    name: 'catalog-0x100000-built',
    what: 'catalog 0x100000 in full: a 4 MiB catalog',
    bytes: () => buildBochsImage({ ...WRITTEN_SPEC, catalogSize: 0x100000 }),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.written },
    check: 'clean',
  },
  {
    name: 'catalog-0x100001',
    what: 'catalog 0x100001',
    bytes: poke32(AT.catalog, 0x100001),
    qemu: { probe: 'bochs', open: 'Catalog size is too large' },
  },
  {
    name: 'catalog-0x40000000',
    what: "iotest 078's 00 00 00 40",
    bytes: poke32(AT.catalog, 0x40000000),
    qemu: { probe: 'bochs', open: 'Catalog size is too large' },
  },
  {
    name: 'catalog-0xffffffff',
    what: 'catalog 0xffffffff: catalog*4 wraps in 32 bits',
    bytes: poke32(AT.catalog, 0xffffffff),
    qemu: { probe: 'bochs', open: 'Catalog size is too large' },
  },

  // extent (0x50)
  {
    name: 'extent-0',
    what: 'extent 0: CVE-2014-0142, division by zero',
    bytes: poke32(AT_EXTENT, 0),
    qemu: { probe: 'bochs', open: 'Extent size must be at least 512' },
  },
  {
    name: 'extent-256',
    what: 'extent 256',
    bytes: poke32(AT_EXTENT, 256),
    qemu: { probe: 'bochs', open: 'Extent size must be at least 512' },
  },
  {
    name: 'extent-511',
    what: 'extent 511',
    bytes: poke32(AT_EXTENT, 511),
    qemu: { probe: 'bochs', open: 'Extent size must be at least 512' },
  },
  {
    name: 'extent-512',
    what: 'extent 512, catalog too small for it',
    bytes: poke32(AT_EXTENT, 512),
    qemu: { probe: 'bochs', open: 'Catalog size is too small for this disk size' },
  },
  {
    name: 'extent-512-built',
    what: 'extent 512 with a catalog that covers the disk',
    bytes: () => buildBochsImage({ ...WRITTEN_SPEC, extentSize: 512, catalogSize: 2016 }),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.written },
    check: 'clean',
  },
  {
    name: 'extent-3000',
    what: 'extent 3000, not a power of two',
    bytes: poke32(AT_EXTENT, 3000),
    qemu: { probe: 'bochs', open: 'Extent size 3000 is not a power of two' },
  },
  {
    name: 'extent-0x800000',
    what: 'extent 8 MiB, the largest',
    bytes: poke32(AT_EXTENT, 0x800000),
    qemu: {
      probe: 'bochs',
      open: 1032192,
      read: 'ok',
      convert: '1823b9624458be4346d2a0008e2a9dfaf7a13db7e67f198c9d769495f3ada3ac',
    },
    check: 'corruption',
  },
  {
    name: 'extent-0x800001',
    what: 'extent 0x800001',
    bytes: poke32(AT_EXTENT, 0x800001),
    qemu: { probe: 'bochs', open: 'Extent size 8388609 is not a power of two' },
  },
  {
    name: 'extent-0x1000000',
    what: 'extent 16 MiB',
    bytes: poke32(AT_EXTENT, 0x1000000),
    qemu: { probe: 'bochs', open: 'Extent size 16777216 is too large' },
  },
  {
    name: 'extent-0x80000000',
    what: "iotest 078's 00 00 00 80",
    bytes: poke32(AT_EXTENT, 0x80000000),
    qemu: { probe: 'bochs', open: 'Extent size 2147483648 is too large' },
  },
  {
    name: 'extent-0xffffffff',
    what: 'extent 0xffffffff',
    bytes: poke32(AT_EXTENT, 0xffffffff),
    qemu: { probe: 'bochs', open: 'Extent size 4294967295 is not a power of two' },
  },

  // disk (0x58 in v2)
  {
    name: 'disk-0',
    what: 'disk 0',
    bytes: () => le64(written(), AT_DISK_V2, 0n),
    qemu: { probe: 'bochs', open: 0, read: 'Input/output error', convert: CONVERTED.empty },
    check: 'clean',
    vdisk: {
      read: 'ERANGE',
      why: 'Both refuse to read past the virtual size; vdisk says so in its own words instead of Input/output error',
    },
  },
  {
    name: 'disk-unaligned',
    what: 'disk 1032292, not a multiple of 512',
    bytes: () => le64(written(), AT_DISK_V2, 1032292n),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.written },
    check: 'clean',
  },
  {
    name: 'disk-0x7f000000000fc000',
    what: "iotest 078's 00 c0 0f 00 00 00 00 7f",
    bytes: () => le64(written(), AT_DISK_V2, 0x7f000000000fc000n),
    qemu: { probe: 'bochs', open: 'Catalog size is too small for this disk size' },
  },
  {
    name: 'disk-2^63',
    what: 'disk 2^63 (negative as int64)',
    bytes: () => le64(written(), AT_DISK_V2, 1n << 63n),
    qemu: { probe: 'bochs', open: 'Catalog size is too small for this disk size' },
  },
  {
    name: 'disk-2^64-1',
    what: 'disk 2^64-1',
    bytes: () => le64(written(), AT_DISK_V2, (1n << 64n) - 1n),
    qemu: { probe: 'bochs', open: 'Catalog size is too small for this disk size' },
  },
  {
    name: 'disk-8tib-header-only',
    what: 'a 512-byte file that claims 8 TiB: catalog 0x100000, extent 8 MiB, all past the end',
    bytes: () =>
      buildBochsImage({
        diskSize: 0x100000 * 0x800000,
        catalogSize: 0x100000,
        bitmapSize: 2048,
        extentSize: 0x800000,
      }).slice(0, 512),
    qemu: { probe: 'bochs', open: 8796093022208, read: 'ok' },
    check: 'corruption',
  },

  // header (0x44): where the catalog starts
  {
    name: 'header-0',
    what: 'header 0: the catalog is the header itself',
    bytes: poke32(AT.header, 0),
    qemu: {
      probe: 'bochs',
      open: 1032192,
      read: 'ok',
      convert: '7c5ef7653083b8d5173e50cdaf6538249e3770fdec1a40f2690142b2d06f8c0a',
    },
    check: 'corruption',
  },
  {
    name: 'header-511',
    what: 'header 511',
    bytes: poke32(AT.header, 511),
    qemu: {
      probe: 'bochs',
      open: 1032192,
      read: 'ok',
      convert: '57a598cebbe68dd55b016caf53dd0de30937e496b493052e46d34c74e70b1e06',
    },
    check: 'corruption',
  },
  {
    name: 'header-past-eof',
    what: 'header 0x100000, past the end of the file',
    bytes: poke32(AT.header, 0x100000),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
  },
  {
    name: 'header-0xffffffff',
    what: 'header 0xffffffff: header + 4*catalog wraps to 2047 in QEMU',
    bytes: poke32(AT.header, 0xffffffff),
    qemu: {
      probe: 'bochs',
      open: 1032192,
      read: 'ok',
      convert: '55189e2051fce1c7a0a5f186dc7bc9c999d8426d645d39253aa607ecf54b8f20',
    },
    vdisk: {
      convert: CONVERTED.zeros,
      why: 'QEMU computes header + 4*catalog in 32 bits: it wraps to 2047 and reads catalog bytes as bitmaps and data. vdisk computes it exactly (past the end of the file): zeros. CONTRACT.md: no 32-bit wrap',
    },
    check: 'corruption',
  },

  // bitmap (0x4c): only the slot stride
  {
    name: 'bitmap-0',
    what: 'bitmap 0: 0x800000 bitmap blocks',
    bytes: poke32(AT_BITMAP, 0),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
  },
  {
    name: 'bitmap-0xffffffff',
    what: 'bitmap 0xffffffff: 0x800000 bitmap blocks',
    bytes: poke32(AT_BITMAP, 0xffffffff),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
  },

  // catalog entries
  {
    name: 'entry-past-eof',
    what: 'entry 0 points to slot 1000, past the end',
    bytes: () => entry(0, 1000)(written()),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.secondSectorOnly },
    check: 'corruption',
  },
  {
    name: 'entry-0xfffffffe',
    what: 'entry 0 is 0xfffffffe',
    bytes: () => entry(0, 0xfffffffe)(written()),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.secondSectorOnly },
    check: 'corruption',
  },
  {
    name: 'entry-beyond-2^53',
    what: 'bitmap 0xffffffff and entry 0x300000: slot at ~1.35e16, past 2^53, below 2^63',
    bytes: () => entry(0, 0x300000)(le32(written(), AT_BITMAP, 0xffffffff)),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
    vdisk: {
      read: 'EOVERFLOW',
      convert: 'EOVERFLOW',
      why: `QEMU reads zeros past the end of the file. ${BEYOND_2_53}`,
    },
  },
  {
    name: 'entry-beyond-2^63',
    what: 'bitmap 0xffffffff and entry 0x80000000: slot at 2^63 + 2^43',
    bytes: () => entry(0, 0x80000000)(le32(written(), AT_BITMAP, 0xffffffff)),
    qemu: {
      probe: 'bochs',
      open: 1032192,
      read: 'Input/output error',
      convert: 'error while reading at byte 0: Input/output error',
    },
    vdisk: {
      read: 'EOVERFLOW',
      convert: 'EOVERFLOW',
      why: `QEMU fails with Input/output error from 2^63. ${BEYOND_2_53}`,
    },
    check: 'corruption',
  },
  {
    name: 'entry-beyond-2^64',
    what: 'bitmap 0xffffffff and entry 0xfffffffe: slot at 2^64 + 2^44 - 2^33 - 8192, which wraps in QEMU',
    bytes: () => entry(0, 0xfffffffe)(le32(written(), AT_BITMAP, 0xffffffff)),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
    vdisk: {
      read: 'EOVERFLOW',
      convert: 'EOVERFLOW',
      why: `QEMU wraps the offset at 2^64 and reads zeros there. ${BEYOND_2_53}`,
    },
  },
  {
    name: 'entry-duplicate',
    what: 'entries 0 and 1 share slot 0',
    bytes: () => entry(1, 0)(written()),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.firstSectorTwice },
    check: 'corruption',
  },

  // files cut short
  {
    name: 'file-0',
    what: 'a 0-byte file',
    bytes: () => new Uint8Array(0),
    qemu: { probe: 'raw', open: 'Image not in Bochs format' },
  },
  {
    name: 'file-100',
    what: 'the first 100 bytes of an image',
    bytes: truncated(100),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
  },
  {
    name: 'file-511',
    what: 'the first 511 bytes of an image',
    bytes: truncated(511),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
  },
  {
    name: 'file-512',
    what: 'the header alone: the catalog is past the end',
    bytes: truncated(512),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
  },
  {
    name: 'file-cut-in-slot',
    what: 'cut in the middle of sector 0 (at 3000)',
    bytes: truncated(3000),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.zeros },
    check: 'corruption',
  },

  // near misses of the magic, type, subtype and version
  {
    name: 'magic-no-nul',
    what: 'magic followed by X, not NUL',
    bytes: () => ascii(written(), AT.magic + 22, 'X'),
    qemu: { probe: 'raw', open: 'Image not in Bochs format' },
  },
  {
    name: 'magic-garbage-after-nul',
    what: 'bytes after the magic NUL (strcmp ignores them)',
    bytes: () => ascii(written(), AT.magic + 23, 'garbage!'),
    qemu: { probe: 'bochs', open: 1032192, read: 'ok', convert: CONVERTED.written },
    check: 'clean',
  },
  {
    name: 'type-no-nul',
    what: 'type Redolog followed by X',
    bytes: () => ascii(written(), AT.type + 7, 'X'),
    qemu: { probe: 'raw', open: 'Image not in Bochs format' },
  },
  {
    name: 'subtype-undoable',
    what: 'subtype Undoable',
    bytes: () => buildBochsImage({ ...WRITTEN_SPEC, subtype: 'Undoable' }),
    qemu: { probe: 'raw', open: 'Image not in Bochs format' },
    vdisk: {
      probe: 'bochs-redolog',
      why: "vdisk also reads Bochs's redologs (bochs-redolog, probe 100); `-f bochs` stays QEMU's and refuses them",
    },
  },
  {
    name: 'subtype-volatile',
    what: 'subtype Volatile',
    bytes: () => buildBochsImage({ ...WRITTEN_SPEC, subtype: 'Volatile' }),
    qemu: { probe: 'raw', open: 'Image not in Bochs format' },
    vdisk: {
      probe: 'bochs-redolog',
      why: "vdisk also reads Bochs's redologs (bochs-redolog, probe 100); `-f bochs` stays QEMU's and refuses them",
    },
  },
  {
    name: 'version-0',
    what: 'version 0',
    bytes: poke32(AT.version, 0),
    qemu: { probe: 'raw', open: 'Image not in Bochs format' },
  },
  {
    name: 'version-3',
    what: 'version 0x00030000',
    bytes: poke32(AT.version, 0x00030000),
    qemu: { probe: 'raw', open: 'Image not in Bochs format' },
  },
  {
    name: 'version-big-endian',
    what: 'version 2 stored big-endian',
    bytes: poke32(AT.version, 0x00000200),
    qemu: { probe: 'raw', open: 'Image not in Bochs format' },
  },
];
