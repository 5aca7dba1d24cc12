import { describe, expect, it } from 'vitest';
import { infoLines } from './info-text.js';

describe('infoLines', () => {
  it("prints qemu-img info's lines, with the format's own details", () => {
    expect(
      infoLines({
        filename: 'a.img',
        format: 'bochs',
        virtualSize: 1048576,
        actualSize: 16384,
        specific: { type: 'bochs', data: { version: 2, 'extent-size': 4096 } },
      }),
    ).toEqual([
      'image: a.img',
      'file format: bochs',
      'virtual size: 1 MiB (1048576 bytes)',
      'disk size: 16 KiB',
      'Format specific information:',
      '    version: 2',
      '    extent size: 4096',
    ]);
  });

  it("says the disk size is unavailable, in QEMU's words, when it cannot be known", () => {
    expect(infoLines({ filename: 'b', format: 'raw', virtualSize: 512 })).toEqual([
      'image: b',
      'file format: raw',
      'virtual size: 512 B (512 bytes)',
      'disk size: unavailable',
    ]);
  });
});
