import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSize, strtosz } from './size.js';

// What QEMU 7.2 made of each input, measured with `qemu-img create -f raw x SIZE` and
// `qemu-io -c 'read SIZE 0'` here.
const MEASURED: [string, bigint | 'EINVAL' | 'ERANGE'][] = [
  ['0', 0n],
  ['1', 1n],
  ['512', 512n],
  ['10M', 10485760n],
  ['10m', 10485760n],
  ['1k', 1024n],
  ['1K', 1024n],
  ['1b', 1n],
  ['1B', 1n],
  ['1.5k', 1536n],
  ['1.5M', 1572864n],
  ['0.5k', 512n],
  ['1.k', 1024n],
  ['1.0', 1n],
  ['1.0b', 1n],
  ['1.', 1n],
  ['0x10', 16n],
  ['0X10', 16n],
  ['010', 10n],
  ['1T', 1099511627776n],
  ['1P', 1125899906842624n],
  ['1e', 1152921504606846976n],
  ['1E', 1152921504606846976n],
  ['1.e', 1152921504606846976n],
  [' 1k', 1024n],
  ['+1k', 1024n],
  ['0.0005k', 1n], // 0.512 rounds half up
  ['0.00049k', 1n], // 0.50176
  ['1.0000001k', 1024n],
  ['0.99999999999999999k', 0n], // the fraction rounds to 1.0, which qemu's conversion turns into 0
  ['1.00000000000000000001k', 1024n],
  ['1.00000000000000000001', 1n],
  ['7.99999E', 9223360507639729792n],
  ['0.333333333333k', 341n],
  ['9223372036854775807', 9223372036854775807n],
  ['18446744073709551615', 18446744073709551615n],
  ['1.5', 'EINVAL'],
  ['0.1', 'EINVAL'],
  ['1.5b', 'EINVAL'],
  ['0x1.8k', 'EINVAL'],
  ['0x', 'EINVAL'],
  ['0xg', 'EINVAL'],
  ['00x10', 'EINVAL'],
  ['1kb', 'EINVAL'],
  ['1KiB', 'EINVAL'],
  ['1e3', 'EINVAL'],
  ['1.5e3k', 'EINVAL'],
  ['1..5k', 'EINVAL'],
  ['1k5', 'EINVAL'],
  ['.5k', 'EINVAL'],
  ['1s', 'EINVAL'],
  ['abc', 'EINVAL'],
  ['', 'EINVAL'],
  ['-1', 'EINVAL'],
  ['-0', 'EINVAL'],
  ['1 k', 'EINVAL'],
  ['0x10k', 'EINVAL'], // QEMU 7.2 warns that this is deprecated; 8.0 and vdisk refuse it
  ['16E', 'ERANGE'],
  ['18446744073709551616', 'ERANGE'],
  ['99999999999999999999', 'ERANGE'],
  ['99999999999999999999k', 'EINVAL'],
];

describe('parseSize (qemu_strtosz)', () => {
  it.each(MEASURED)('%j is %s, as in QEMU 7.2', (text, expected) => {
    const result = strtosz(text);
    expect(result).toEqual(
      typeof expected === 'bigint' ? { ok: true, value: expected } : { ok: false, error: expected },
    );
  });

  it('scales every integer by its suffix exactly', () => {
    const suffixes: [string, bigint][] = [
      ['', 1n],
      ['b', 1n],
      ['k', 1n << 10n],
      ['M', 1n << 20n],
      ['g', 1n << 30n],
      ['T', 1n << 40n],
      ['p', 1n << 50n],
      ['E', 1n << 60n],
    ];
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(...suffixes), (n, [suffix, scale]) => {
        const result = strtosz(`${n}${suffix}`);
        const product = n * scale;
        expect(result).toEqual(product < 1n << 64n ? { ok: true, value: product } : { ok: false, error: 'ERANGE' });
      }),
    );
  });

  it('rounds a fraction times its scale to the nearest byte, halves up', () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.integer({ min: 1, max: 999 }), (whole, thousandths) => {
        const text = `${whole}.${String(thousandths).padStart(3, '0')}k`;
        const double = Number(`0.${String(thousandths).padStart(3, '0')}`);
        // the double nearest to the decimal fraction, times 1024, rounded half up
        const expected = BigInt(whole) * 1024n + BigInt(Math.floor(double * 1024 + 0.5));
        expect(strtosz(text)).toEqual({ ok: true, value: expected });
      }),
    );
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'0123456789.xXkKmMeEbB+- \t') }), (text) => {
        const result = strtosz(text);
        if (result.ok) expect(result.value).toBeGreaterThanOrEqual(0n);
      }),
    );
  });
});

describe('parseSize: strtosz, as an exact number', () => {
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

  it.each(['', 'k', '-1', '1 ', '1.5', '1.5b', '1x', '0x200k', '0x1.5', '1e3', '1Mi', '1KB'])('refuses %j', (text) => {
    expect(() => parseSize(text)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('refuses sizes a number cannot hold exactly, never rounding them', () => {
    expect(parseSize('8191T')).toBe(8191 * 2 ** 40);
    expect(() => parseSize('8P')).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
    expect(() => parseSize('9007199254740993')).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
    expect(() => parseSize('1E')).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
  });
});
