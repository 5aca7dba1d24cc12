import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatFixed } from '../printf-fixed.js';
import { getopt } from './getopt.js';
import { dumpLines, reportLines, sizeString, timeString } from './report.js';

describe("qemu-io's report lines", () => {
  it.each([
    [0, '0 bytes'],
    [1, '1 bytes'],
    [1000, '1000 bytes'],
    [1023, '1023 bytes'],
    [1024, '1 KiB'],
    [1025, '1.001 KiB'],
    [1088, '1.062 KiB'], // 1.0625: glibc rounds the tie to even, toFixed would say 1.063
    [1536, '1.500 KiB'],
    [1048575, '1023.999 KiB'],
    [2097152000, '1.953 GiB'],
    [2 ** 60, '1 EiB'],
  ])('cvtstr(%d) is %s, as qemu-io prints it', (bytes, text) => {
    expect(sizeString(bytes)).toBe(text);
  });

  it('times under a second as 00.39 sec, from a second on as H:MM:SS.ss', () => {
    expect(timeString(0.3949)).toBe('00.39 sec');
    expect(timeString(0)).toBe('00.00 sec');
    expect(timeString(3.39)).toBe('0:00:03.39');
    expect(timeString(3725.5)).toBe('1:02:05.50');
    expect(timeString(0.25, true)).toBe('0:00:00.25');
  });

  it('reports a write as qemu-io 7.2 does', () => {
    expect(reportLines('wrote', 0, 4096, 0.001)).toBe(
      'wrote 4096/4096 bytes at offset 0\n4 KiB, 1 ops; 00.00 sec (3.906 MiB/sec and 1000.0000 ops/sec)\n',
    );
    expect(reportLines('read', 5, 0, 0.001)).toBe(
      'read 0/0 bytes at offset 5\n0 bytes, 1 ops; 00.00 sec (0 bytes/sec and 1000.0000 ops/sec)\n',
    );
  });

  it('dumps with absolute offsets, letters and digits shown, a short last line unpadded', () => {
    const bytes = new TextEncoder().encode('Hello, vdisk 0123456789!');
    expect(dumpLines(bytes, 0x100000000)).toBe(
      '100000000:  48 65 6c 6c 6f 2c 20 76 64 69 73 6b 20 30 31 32  Hello..vdisk.012\n' +
        '100000010:  33 34 35 36 37 38 39 21  3456789.\n',
    );
  });

  it('formatFixed equals the exact decimal value rounded half to even', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 12 }), (n, shift) => {
        // n / 2^shift is exact; its 3-decimal rounding computed with integers.
        const value = n / 2 ** shift;
        const scaled = BigInt(n) * 1000n;
        const denominator = 1n << BigInt(shift);
        let digits = scaled / denominator;
        const twice = 2n * (scaled % denominator);
        if (twice > denominator || (twice === denominator && digits % 2n === 1n)) digits++;
        const text = digits.toString().padStart(4, '0');
        expect(formatFixed(value, 3)).toBe(`${text.slice(0, -3)}.${text.slice(-3)}`);
      }),
    );
  });
});

describe('getopt as glibc permutes', () => {
  it('takes options anywhere, attached or separate arguments, and stops at --', () => {
    expect(getopt('read', ['0', '4', '-v', '-P0xab', '-s', '1'], 'Cl:pP:qs:v')).toEqual({
      options: [{ letter: 'v' }, { letter: 'P', value: '0xab' }, { letter: 's', value: '1' }],
      operands: ['0', '4'],
    });
    expect(getopt('read', ['-vq', '--', '-1', '4'], 'qv')).toEqual({
      options: [{ letter: 'v' }, { letter: 'q' }],
      operands: ['-1', '4'],
    });
    expect(getopt('write', ['-P', '-5', '0', '4'], 'P:')).toEqual({
      options: [{ letter: 'P', value: '-5' }],
      operands: ['0', '4'],
    });
  });

  it("stops at the first bad option with glibc's words", () => {
    expect(getopt('r', ['-v', '-x', '0', '4'], 'v')).toEqual({
      options: [{ letter: 'v' }],
      operands: [],
      error: "r: invalid option -- 'x'",
    });
    expect(getopt('read', ['0', '4', '-P'], 'P:').error).toBe("read: option requires an argument -- 'P'");
  });
});
