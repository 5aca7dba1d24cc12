import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockDevice } from './block-device.js';
import type { BlockDriver, BlockStatusRun, DriverImage } from './driver.js';
import { DriverContractError, OutOfRangeError, UnsafeOffsetError } from './errors.js';
import { MemorySource } from './memory-source.js';

/**
 * A driver over plain bytes that insists on the contract: every request it receives
 * must be aligned and in range, or the test fails.
 */
function strictImage(bytes: Uint8Array, alignment: number, requests: Array<[number, number]> = []): DriverImage {
  return {
    virtualSize: bytes.length,
    requestAlignment: alignment,
    async readv(offset, buffers) {
      const length = buffers.reduce((n, b) => n + b.length, 0);
      requests.push([offset, length]);
      if (offset % alignment !== 0 || length % alignment !== 0)
        throw new Error(`unaligned request ${offset}+${length}`);
      if (offset + length > bytes.length) throw new Error(`request past the end ${offset}+${length}`);
      let at = offset;
      for (const buffer of buffers) {
        buffer.set(bytes.subarray(at, at + buffer.length));
        at += buffer.length;
      }
    },
    async close() {},
  };
}

const plainDriver = (blockStatus?: BlockDriver['blockStatus']): BlockDriver => ({
  name: 'plain',
  probe: () => 0,
  open: () => Promise.reject(new Error('not used')),
  ...(blockStatus ? { blockStatus } : {}),
});

function device(bytes: Uint8Array, alignment: number, requests?: Array<[number, number]>): BlockDevice {
  return new BlockDevice(plainDriver(), strictImage(bytes, alignment, requests), new MemorySource(bytes));
}

function patterned(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 131 + (i >> 9) * 7) & 0xff;
  return bytes;
}

const POOL = patterned(24 * 4096);
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('BlockDevice reads', () => {
  it('returns exactly the underlying bytes for any offset, length and alignment (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 512, 4096),
        fc.integer({ min: 0, max: 24 }),
        fc.nat(),
        fc.nat(),
        async (alignment, units, a, b) => {
          const bytes = POOL.subarray(0, units * alignment);
          const requests: Array<[number, number]> = [];
          const dev = device(bytes, alignment, requests);
          const offset = bytes.length === 0 ? 0 : a % (bytes.length + 1);
          const length = (b % (bytes.length - offset + 1)) | 0;
          const got = await dev.read(offset, length);
          expect(sameBytes(got, bytes.subarray(offset, offset + length))).toBe(true);
          // Padding is bounded: the driver never reads more than the request plus two units.
          for (const [, n] of requests) expect(n).toBeLessThanOrEqual(length + 2 * alignment);
        },
      ),
      { numRuns: 600 },
    );
  });

  it('passes an aligned request straight through in one driver call', async () => {
    const requests: Array<[number, number]> = [];
    const dev = device(patterned(8192), 512, requests);
    await dev.read(1024, 2048);
    expect(requests).toEqual([[1024, 2048]]);
  });

  it('pads an unaligned request in one driver call with head and tail units', async () => {
    const requests: Array<[number, number]> = [];
    const bytes = patterned(8192);
    const dev = device(bytes, 512, requests);
    expect(await dev.read(100, 3000)).toEqual(bytes.subarray(100, 3100));
    expect(requests).toEqual([[0, 3584]]);
  });

  it('refuses reads beyond the virtual size', async () => {
    const dev = device(patterned(4096), 512);
    await expect(dev.read(4000, 97)).rejects.toBeInstanceOf(OutOfRangeError);
    await expect(dev.read(4097, 0)).rejects.toBeInstanceOf(OutOfRangeError);
    await expect(dev.read(4096, 0)).resolves.toHaveLength(0);
  });

  it('refuses an out-of-range length before allocating for it', async () => {
    const dev = device(patterned(4096), 512);
    await expect(dev.read(0, 2 ** 52)).rejects.toBeInstanceOf(OutOfRangeError);
  });

  it('refuses offsets that are not exact integers', async () => {
    const dev = device(patterned(4096), 512);
    await expect(dev.read(2 ** 53, 1)).rejects.toBeInstanceOf(UnsafeOffsetError);
    await expect(dev.read(-1, 1)).rejects.toBeInstanceOf(UnsafeOffsetError);
    await expect(dev.read(1.5, 1)).rejects.toBeInstanceOf(UnsafeOffsetError);
  });

  it('rejects a driver whose virtual size is not a multiple of its alignment', () => {
    const image = strictImage(patterned(1000), 512);
    expect(() => new BlockDevice(plainDriver(), image, new MemorySource(new Uint8Array()))).toThrow(
      DriverContractError,
    );
  });

  it('closes the image and the source, once', async () => {
    let imageCloses = 0;
    let sourceCloses = 0;
    const bytes = patterned(512);
    const image = { ...strictImage(bytes, 512), close: async () => void imageCloses++ };
    const source = new MemorySource(bytes);
    source.close = async () => void sourceCloses++;
    const dev = new BlockDevice(plainDriver(), image, source);
    await dev.close();
    await dev.close();
    expect([imageCloses, sourceCloses]).toEqual([1, 1]);
  });
});

describe('BlockDevice block status', () => {
  it('reports the whole range as data when the driver has no blockStatus, as QEMU does', async () => {
    const dev = device(patterned(4096), 512);
    expect(await dev.blockStatus(100, 1000)).toEqual([{ offset: 100, length: 1000, data: true }]);
  });

  it('aligns the query, clips the runs to the request and merges neighbours', async () => {
    const calls: Array<[number, number]> = [];
    const status: BlockDriver['blockStatus'] = async (_image, offset, length) => {
      calls.push([offset, length]);
      const runs: BlockStatusRun[] = [];
      for (let at = offset; at < offset + length; at += 512) {
        const data = at < 2048;
        runs.push(
          data ? { offset: at, length: 512, data, fileOffset: 10_000 + at } : { offset: at, length: 512, data },
        );
      }
      return runs;
    };
    const bytes = patterned(4096);
    const dev = new BlockDevice(plainDriver(status), strictImage(bytes, 512), new MemorySource(bytes));
    expect(await dev.blockStatus(100, 3000)).toEqual([
      { offset: 100, length: 1948, data: true, fileOffset: 10_100 },
      { offset: 2048, length: 1052, data: false },
    ]);
    expect(calls).toEqual([[0, 3584]]);
  });

  it('rejects a driver map that does not cover the range', async () => {
    const status: BlockDriver['blockStatus'] = async (_image, offset) => [{ offset, length: 512, data: true }];
    const bytes = patterned(4096);
    const dev = new BlockDevice(plainDriver(status), strictImage(bytes, 512), new MemorySource(bytes));
    await expect(dev.blockStatus(0, 4096)).rejects.toBeInstanceOf(DriverContractError);
  });
});
