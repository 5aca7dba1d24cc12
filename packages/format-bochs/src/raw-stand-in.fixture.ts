import type { BlockDriver } from '@vdisk/core';

/**
 * Raw as the tests' registries need it (a redolog's flat base, the probe's fallback): a format
 * knows no other format, so format-bochs cannot import format-raw. Read-only, the bytes as they are.
 */
export const rawStandIn: BlockDriver = {
  name: 'raw',
  probe: () => 1,
  async open(source) {
    return {
      virtualSize: source.size,
      requestAlignment: 1,
      readv: async (offset, buffers) => {
        let at = offset;
        for (const buffer of buffers) {
          await source.read(buffer, at);
          at += buffer.length;
        }
      },
      close: async () => {},
    };
  },
};
