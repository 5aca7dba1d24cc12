import { describe, expect, it } from 'vitest';
import { parseSize } from './size.js';

describe('parseSize, after QEMU 7.2 qemu_strtosz', () => {
  it.each([
    ['0', 0],
    ['512', 512],
    ['512b', 512],
    ['512B', 512],
    ['1k', 1024],
    ['1K', 1024],
    ['1M', 1048576],
    ['10M', 10485760],
    ['1G', 2 ** 30],
    ['2T', 2 * 2 ** 40],
    ['1P', 2 ** 50],
    ['1.5k', 1536],
    ['1.k', 1024],
    ['0.5M', 524288],
    ['1.0', 1],
    ['0x200', 512],
    ['0.0001k', 0],
    ['0.0005k', 1],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'k', '-1', '+1', ' 1', '1 ', '1.5', '1.5b', '1x', '0x200k', '0x1.5', '1e3', '1Mi', '1KB'])(
    'refuses %j',
    (text) => {
      expect(() => parseSize(text)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    },
  );

  it('refuses sizes a number cannot hold exactly, never rounding them', () => {
    expect(parseSize('8191T')).toBe(8191 * 2 ** 40);
    expect(() => parseSize('8P')).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
    expect(() => parseSize('9007199254740993')).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
    expect(() => parseSize('1E')).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
  });
});
