import { VdiskError } from '@vdisk/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf16 } from './differencing-image.fixture.js';
import {
  buildLocatorEntry,
  decodeLocator,
  encodeUtf16,
  MAX_LOCATOR_BYTES,
  parseLocators,
  readParentName,
  windowsRelativePath,
} from './parent-locator.js';

/** A dynamic header (1024 bytes) with these locator entries and unicode name. */
function header(entries: Uint8Array[], name = ''): Uint8Array {
  const bytes = new Uint8Array(1024);
  entries.forEach((entry, i) => {
    bytes.set(entry, 576 + i * 24);
  });
  bytes.set(utf16(name, false), 64);
  return bytes;
}

/** A reader over `file` that records the size of every read. */
function reader(file: Uint8Array, sizes: number[] = []) {
  return async (buffer: Uint8Array, position: number) => {
    sizes.push(buffer.length);
    buffer.set(file.subarray(position, position + buffer.length));
  };
}

describe('parent locators', () => {
  it('reads W2ru before W2ku before MacX before the unicode name, skipping empty ones', async () => {
    const file = new Uint8Array(4096);
    const put = (at: number, bytes: Uint8Array) => {
      file.set(bytes, at);
      return bytes.length;
    };
    const absolute = buildLocatorEntry('W2ku', put(1024, utf16('C:\\a\\b.vhd', true)), 1024);
    const relative = buildLocatorEntry('W2ru', put(2048, utf16('.\\b.vhd\0\0', true)), 2048);
    const empty = buildLocatorEntry('W2ru', put(3000, new Uint8Array(4)), 3000);
    const mac = buildLocatorEntry('MacX', put(3072, new TextEncoder().encode('file:///x/b%2B.vhd')), 3072);
    const name = (entries: Uint8Array[], unicode = 'b.vhd') =>
      readParentName(header(entries, unicode), file.length, reader(file)).then((p) => `${p.from} ${p.filename}`);
    expect(await name([mac, absolute, empty, relative])).toBe('W2ru b.vhd');
    expect(await name([mac, empty, absolute])).toBe('W2ku C:/a/b.vhd');
    expect(await name([mac, empty])).toBe('MacX /x/b+.vhd');
    expect(await name([empty])).toBe('name b.vhd');
    await expect(name([], '')).rejects.toThrow('Differencing VHD does not name its parent');
  });

  it('gives the end of the locators, so that new blocks never go over them', async () => {
    const file = new Uint8Array(8192);
    const locators = parseLocators(
      header([buildLocatorEntry('W2ru', 10, 5000), buildLocatorEntry('W2ku', 600, 512)]),
      8192,
    );
    expect(locators.map((l) => [l.code, l.dataOffset, l.dataLength])).toEqual([
      ['W2ru', 5000, 10],
      ['W2ku', 512, 600],
    ]);
    const parsed = await readParentName(header([buildLocatorEntry('W2ru', 10, 5000)], 'p.vhd'), 8192, reader(file));
    expect(parsed.locatorsEnd).toBe(5120);
  });

  it('refuses a bad file URL with a typed error', async () => {
    const data = new TextEncoder().encode('file:///x/%E0%A4%A');
    const locator = { index: 2, code: 'MacX', dataLength: data.length, dataOffset: 0 };
    expect(() => decodeLocator(locator, data)).toThrow('Parent locator 2 (MacX) is not a valid file URL');
  });

  it('writes relative names as Windows does, and UTF-16 round-trips through a locator', () => {
    expect(windowsRelativePath('base.vhd')).toBe('.\\base.vhd');
    expect(windowsRelativePath('../d/base.vhd')).toBe('..\\d\\base.vhd');
    expect(windowsRelativePath('./base.vhd')).toBe('.\\base.vhd');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 100 }), (text) => {
        fc.pre(!text.includes('\0') && !text.includes('\\') && !text.startsWith('./'));
        const bytes = encodeUtf16(text, true);
        const decoded = decodeLocator({ index: 0, code: 'W2ru', dataLength: bytes.length, dataOffset: 0 }, bytes);
        expect(decoded).toBe(text);
      }),
    );
  });

  it('never throws anything but a VdiskError on arbitrary header bytes, and never reads more than a locator may hold', async () => {
    const entry = fc.record({
      code: fc.constantFrom('W2ru', 'W2ku', 'MacX', 'Mac ', 'Wi2k', '\0\0\0\0', 'zzzz'),
      length: fc.oneof(
        fc.constantFrom(0, 1, 2, 511, 512, MAX_LOCATOR_BYTES, MAX_LOCATOR_BYTES + 1, 0xffffffff),
        fc.nat(),
      ),
      offset: fc.oneof(
        fc.constantFrom(0n, 511n, 4096n, 2n ** 53n, 2n ** 64n - 1n),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      ),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1024, maxLength: 1024 }),
        fc.array(entry, { maxLength: 8 }),
        fc.uint8Array({ minLength: 0, maxLength: 8192 }),
        async (raw, entries, file) => {
          const bytes = raw.slice();
          const view = new DataView(bytes.buffer);
          entries.forEach(({ code, length, offset }, i) => {
            const at = 576 + i * 24;
            for (let c = 0; c < 4; c++) bytes[at + c] = code.charCodeAt(c);
            view.setUint32(at + 8, length >>> 0);
            view.setBigUint64(at + 16, offset);
          });
          const sizes: number[] = [];
          try {
            const parent = await readParentName(bytes, file.length, reader(file, sizes));
            expect(typeof parent.filename).toBe('string');
            expect(parent.locatorsEnd).toBeLessThanOrEqual(Math.ceil(file.length / 512) * 512);
          } catch (error) {
            expect(error).toBeInstanceOf(VdiskError);
          }
          for (const size of sizes) expect(size).toBeLessThanOrEqual(Math.min(MAX_LOCATOR_BYTES, file.length));
        },
      ),
      { numRuns: 500, seed: 21 },
    );
  });
});
