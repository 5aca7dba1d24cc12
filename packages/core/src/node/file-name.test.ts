import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFileName, encodeFileName, fileSystemPath } from './file-name.js';

describe('file names that are not UTF-8', () => {
  it('decode invalid bytes as U+DC80..U+DCFF, as Python surrogateescape does', () => {
    expect(decodeFileName(Buffer.from('n\xff.img', 'latin1'))).toBe('n\udcff.img');
    expect(decodeFileName(Buffer.from('caf\xc3\xa9', 'latin1'))).toBe('café');
    // An overlong '/', a UTF-8-encoded surrogate, a truncated sequence: each byte escaped.
    expect(decodeFileName(Buffer.of(0xc0, 0xaf))).toBe('\udcc0\udcaf');
    expect(decodeFileName(Buffer.of(0xed, 0xa0, 0x80))).toBe('\udced\udca0\udc80');
    expect(decodeFileName(Buffer.of(0x61, 0xe2, 0x82))).toBe('a\udce2\udc82');
    expect(decodeFileName(Buffer.of(0xf0, 0x9f, 0x92, 0xbe))).toBe('💾');
  });

  it('give the same bytes back, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(new Uint8Array(encodeFileName(decodeFileName(bytes)))).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('are given to fs as bytes only when they carry escaped bytes', () => {
    expect(fileSystemPath('disk.img')).toBe('disk.img');
    expect(fileSystemPath('n\udcff.img')).toEqual(Buffer.from('n\xff.img', 'latin1'));
    // A real character outside the BMP is a surrogate pair, not an escaped byte.
    expect(fileSystemPath('\ud83d\udcbe.img')).toBe('💾.img');
  });
});
