import { describe, expect, it } from 'vitest';
import { formatG3, humanSize } from './human-size.js';

describe('humanSize', () => {
  // Each row is what `qemu-img info -f raw` (QEMU 7.2) printed on its `virtual size:` line
  // for a raw file of that many bytes.
  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [511488, '500 KiB'],
    [1023488, '1e+03 KiB'],
    [1048064, '1 MiB'],
    [1048576, '1 MiB'],
    [1179648, '1.12 MiB'],
    [2228224, '2.12 MiB'],
    [5746688, '5.48 MiB'],
    [10321920, '9.84 MiB'],
    [10485760, '10 MiB'],
    [10747904, '10.2 MiB'],
    [105381888, '100 MiB'],
    [1023410176, '976 MiB'],
    [1048051712, '1e+03 MiB'],
    [1073741312, '1 GiB'],
    [1073741824, '1 GiB'],
    [1099511627776, '1 TiB'],
    [1124500000768, '1.02 TiB'],
  ])('%d bytes is %s, as qemu-img prints it', (bytes, text) => {
    expect(humanSize(bytes)).toBe(text);
  });

  it('switches to the next unit at 1000 of the smaller one (QEMU commit e41b509d68)', () => {
    expect(humanSize(1000 * 1024)).toBe('0.977 MiB');
    expect(humanSize(999 * 1024)).toBe('999 KiB');
  });
});

describe('formatG3', () => {
  // Python's '%0.3g' (correctly rounded, ties to even, as glibc) gave these.
  it.each([
    [0.9765625, '0.977'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [0.00012345, '0.000123'],
    [123456, '1.23e+05'],
    [0.5, '0.5'],
    [1.125, '1.12'],
    [2.125, '2.12'],
    [10.25, '10.2'],
    [12.5, '12.5'],
    [100.5, '100'],
    [999.49, '999'],
    [999.5, '1e+03'],
    [1.005, '1'],
  ])('%s is %s', (value, text) => {
    expect(formatG3(value)).toBe(text);
  });
});
