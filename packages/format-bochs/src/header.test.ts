import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBochsGrowingHeader, parseHeader } from './header.js';
import { buildBochsImage } from './testing/image-builder.js';

const valid = () => buildBochsImage({ diskSize: 10 * 1024 * 1024 }).slice(0, 512);

describe('Bochs header: probe (bochs_probe)', () => {
  it('accepts a v2 and a v1 growing header', () => {
    expect(isBochsGrowingHeader(valid())).toBe(true);
    expect(isBochsGrowingHeader(buildBochsImage({ diskSize: 1 << 20, version: 1 }).slice(0, 512))).toBe(true);
  });

  it.each([
    ['the other subtypes', 0x30, 'Undoable\0'],
    ['Volatile', 0x30, 'Volatile\0'],
    ['another type', 0x20, 'Redolol\0'],
    ['another magic', 0x00, 'Bochs Virtual HD Imagf\0'],
  ])('rejects %s', (_what, offset, text) => {
    const header = valid();
    header.set(new TextEncoder().encode(text), offset);
    expect(isBochsGrowingHeader(header)).toBe(false);
  });

  it('rejects a magic with no NUL after it (strcmp reads on)', () => {
    const header = valid();
    header[0x16] = 0x21; // "Bochs Virtual HD Image!" then NULs: strcmp sees a longer string
    expect(isBochsGrowingHeader(header)).toBe(false);
    const full = valid();
    full.fill(0x41, 0x16, 0x20); // no NUL anywhere in the 32-byte field
    expect(isBochsGrowingHeader(full)).toBe(false);
  });

  it.each([0, 0x00030000, 0x00010001, 0x00000100, 0xffffffff])('rejects version %#x', (version) => {
    const header = valid();
    new DataView(header.buffer).setUint32(0x40, version, true);
    expect(isBochsGrowingHeader(header)).toBe(false);
  });

  it('ignores whatever follows the NUL inside a field (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 9, maxLength: 9 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        (magicTail, typeTail, subtypeTail) => {
          const header = valid();
          header.set(magicTail, 0x17);
          header.set(typeTail, 0x28);
          header.set(subtypeTail, 0x38);
          return isBochsGrowingHeader(header);
        },
      ),
    );
  });

  it('accepts no random sector (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 512, maxLength: 512 }), (sector) => !isBochsGrowingHeader(sector)),
    );
  });

  it('rejects fewer than 512 bytes', () => {
    expect(isBochsGrowingHeader(valid().subarray(0, 511))).toBe(false);
  });
});

describe('Bochs header: decoding', () => {
  it('reads the v2 fields, the disk size at 0x58', () => {
    const header = parseHeader(
      buildBochsImage({
        diskSize: 10485760n,
        catalogSize: 1024,
        bitmapSize: 4,
        extentSize: 16384,
        timestamp: 0x12345678,
      }),
    );
    expect(header).toEqual({
      version: 2,
      subtype: 'Growing',
      headerSize: 512,
      catalogSize: 1024,
      bitmapSize: 4,
      extentSize: 16384,
      diskSize: 10485760n,
    });
  });

  it('reads a v1 disk size at 0x54, as QEMU does', () => {
    expect(parseHeader(buildBochsImage({ diskSize: 3n << 40n, version: 1, catalogSize: 1 })).diskSize).toBe(3n << 40n);
  });

  it('reads the full uint64 disk size exactly', () => {
    const bytes = valid();
    new DataView(bytes.buffer).setBigUint64(0x58, 0xffffffffffffffffn, true);
    expect(parseHeader(bytes).diskSize).toBe(0xffffffffffffffffn);
  });

  it("fails with QEMU's message on anything else", () => {
    expect(() => parseHeader(new Uint8Array(512))).toThrow('Image not in Bochs format');
  });
});
