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

  it('names a backing file as qemu-img does, with the path opened when it differs', () => {
    const facts = { filename: 'top.img', format: 'bochs', virtualSize: 512, actualSize: 512 };
    expect(
      infoLines({ ...facts, backing: { filename: 'base.img', fullFilename: '/d/base.img', format: 'raw' } }).slice(4),
    ).toEqual(['backing file: base.img (actual path: /d/base.img)', 'backing file format: raw']);
    expect(
      infoLines({ ...facts, backing: { filename: '/d/base.img', fullFilename: '/d/base.img', format: 'raw' } }).slice(
        4,
      ),
    ).toEqual(['backing file: /d/base.img', 'backing file format: raw']);
  });
});
