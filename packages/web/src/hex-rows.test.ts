import { describe, expect, it } from 'vitest';
import { hexRow, offsetDigits, parseOffset } from './hex-rows.js';

describe('hexRow', () => {
  it('lays a row out as hexdump -C does', () => {
    const bytes = Uint8Array.from([0x42, 0x6f, 0x63, 0x68, 0x73, 0x00, 0x0a, 0x7f, 0x20, 0x7e, 1, 2, 3, 4, 5, 255]);
    expect(hexRow(0x1230, bytes, 8)).toBe(
      '00001230  42 6f 63 68 73 00 0a 7f  20 7e 01 02 03 04 05 ff  |Bochs... ~......|',
    );
  });

  it('pads a short last row', () => {
    expect(hexRow(16, Uint8Array.from([0x41, 0x42]), 8)).toBe(`00000010  41 42${' '.repeat(3 * 14 + 1)}  |AB|`);
  });

  it('widens the offset for big disks', () => {
    expect(offsetDigits(0)).toBe(8);
    expect(offsetDigits(2 ** 32)).toBe(8);
    expect(offsetDigits(2 ** 32 + 1)).toBe(9);
    expect(offsetDigits(8 * 2 ** 40)).toBe(11);
  });
});

describe('parseOffset', () => {
  it.each([
    ['4096', 4096],
    ['0x1000', 4096],
    ['0X1f', 31],
    ['1M', 1048576],
    ['4KiB', 4096],
    ['2 GiB', 2 ** 31],
    ['1_000', 1000],
    ['', undefined],
    ['-5', undefined],
    ['12.5', undefined],
    ['0xg', undefined],
    ['9007199254740993', undefined],
  ])('%j is %j', (text, offset) => {
    expect(parseOffset(text)).toBe(offset);
  });
});
