import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockDevice } from './block-device.js';
import type { BlockDriver, CheckOptions, DriverImage, WriteOptions, ZeroOptions } from './driver.js';
import { OutOfRangeError, ReadOnlyError, UnsafeOffsetError, VdiskError } from './errors.js';
import { MemorySource } from './memory-source.js';

interface Call {
  op: 'readv' | 'write' | 'zero' | 'discard' | 'flush';
  offset: number;
  length: number;
  buffers?: readonly Uint8Array[];
  options?: WriteOptions | ZeroOptions;
}

interface MemoryDriverOptions {
  alignment: number;
  size: number;
  /** Each request waits a few macrotasks before and between its steps, so requests interleave. */
  slow?: boolean;
  zero?: boolean;
  discard?: boolean;
  flush?: boolean;
}

/** A writable driver over bytes in memory that insists on the contract and records every call. */
function memoryDriver(options: MemoryDriverOptions) {
  const bytes = new Uint8Array(options.size);
  const calls: Call[] = [];
  const pause = () =>
    options.slow ? new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 3))) : undefined;
  const inspect = (call: Call) => {
    calls.push(call);
    const { alignment } = options;
    if (call.offset % alignment !== 0 || call.length % alignment !== 0) {
      throw new Error(`unaligned ${call.op} ${call.offset}+${call.length}`);
    }
    if (call.offset + call.length > bytes.length) throw new Error(`${call.op} past the end ${call.offset}`);
  };
  const total = (buffers: readonly Uint8Array[]) => buffers.reduce((n, b) => n + b.length, 0);
  const image: DriverImage = {
    virtualSize: options.size,
    requestAlignment: options.alignment,
    async readv(offset, buffers) {
      inspect({ op: 'readv', offset, length: total(buffers) });
      await pause();
      let at = offset;
      for (const buffer of buffers) {
        buffer.set(bytes.subarray(at, at + buffer.length));
        at += buffer.length;
      }
    },
    async close() {},
  };
  const driver: BlockDriver = {
    name: 'memory',
    probe: () => 0,
    open: async () => image,
    async write(_image, offset, buffers, writeOptions) {
      inspect({ op: 'write', offset, length: total(buffers), buffers, options: writeOptions });
      await pause();
      let at = offset;
      for (const buffer of buffers) {
        bytes.set(buffer, at);
        at += buffer.length;
      }
    },
  };
  if (options.zero) {
    driver.zero = async (_image, offset, length, zeroOptions) => {
      inspect({ op: 'zero', offset, length, options: zeroOptions });
      await pause();
      bytes.fill(0, offset, offset + length);
    };
  }
  if (options.discard) {
    driver.discard = async (_image, offset, length) => {
      inspect({ op: 'discard', offset, length });
      await pause();
      bytes.fill(0, offset, offset + length);
    };
  }
  if (options.flush) {
    driver.flush = async () => {
      calls.push({ op: 'flush', offset: 0, length: 0 });
    };
  }
  const source = new MemorySource(new Uint8Array(0));
  const device = new BlockDevice(driver, image, source, { writable: true });
  return { device, driver, image, bytes, calls, source };
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = ((i + seed) * 131 + (seed >> 3)) & 0xff || 1;
  return bytes;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

type Op =
  | { kind: 'write'; offset: number; length: number; seed: number }
  | { kind: 'zero'; offset: number; length: number }
  | { kind: 'discard'; offset: number; length: number };

function apply(device: BlockDevice, model: Uint8Array, op: Op): Promise<void> {
  if (op.kind === 'write') {
    const data = pattern(op.length, op.seed);
    model.set(data, op.offset);
    return device.write(op.offset, data);
  }
  model.fill(0, op.offset, op.offset + op.length);
  return op.kind === 'zero' ? device.writeZeroes(op.offset, op.length) : device.discard(op.offset, op.length);
}

/** Divisible by every alignment tried: 1, 3, 512, 1536, 4096. */
const SIZE = 3 * 16 * 4096;
const opArbitrary = fc
  .record({
    kind: fc.constantFrom('write' as const, 'write' as const, 'zero' as const, 'discard' as const),
    offset: fc.integer({ min: 0, max: SIZE }),
    length: fc.integer({ min: 0, max: 3 * 4096 }),
    seed: fc.nat(1000),
  })
  .map((op) => ({ ...op, length: Math.min(op.length, SIZE - op.offset) }) as Op);

describe('BlockDevice writes', () => {
  it('reads back what was written, zeroed and discarded, at any offset, length and alignment (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 3, 512, 1536, 4096),
        fc.boolean(),
        fc.array(opArbitrary, { minLength: 1, maxLength: 12 }),
        async (alignment, capable, ops) => {
          const { device, bytes } = memoryDriver({ alignment, size: SIZE, zero: capable, discard: capable });
          const model = new Uint8Array(SIZE);
          for (const op of ops) await apply(device, model, op);
          expect(sameBytes(bytes, model)).toBe(true);
          expect(sameBytes(await device.read(0, SIZE), model)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('runs concurrent requests on disjoint bytes to the same result as the model, even within one unit (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(512, 4096),
        fc.array(fc.integer({ min: 0, max: SIZE }), { minLength: 2, maxLength: 24 }),
        fc.array(fc.constantFrom('write' as const, 'zero' as const, 'discard' as const), {
          minLength: 24,
          maxLength: 24,
        }),
        async (alignment, cuts, kinds) => {
          const { device, bytes } = memoryDriver({ alignment, size: SIZE, slow: true });
          bytes.set(pattern(SIZE, 7));
          const model = bytes.slice();
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const ops: Op[] = [];
          for (let i = 0; i + 1 < points.length; i += 2) {
            const offset = points[i] as number;
            const length = (points[i + 1] as number) - offset;
            const kind = kinds[i] ?? 'write';
            ops.push(kind === 'write' ? { kind, offset, length, seed: i } : { kind, offset, length });
          }
          await Promise.all(ops.map((op) => apply(device, model, op)));
          expect(sameBytes(bytes, model)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('lands two concurrent unaligned writes into one sector, as QEMU serialises their read-modify-writes', async () => {
    for (let round = 0; round < 20; round++) {
      const { device, bytes } = memoryDriver({ alignment: 512, size: 4096, slow: true });
      await Promise.all([
        device.write(10, new Uint8Array(20).fill(0xaa)),
        device.write(100, new Uint8Array(20).fill(0xbb)),
        device.write(500, new Uint8Array(30).fill(0xcc)), // and into the next sector
      ]);
      const expected = new Uint8Array(4096);
      expected.fill(0xaa, 10, 30);
      expected.fill(0xbb, 100, 120);
      expected.fill(0xcc, 500, 530);
      expect(sameBytes(bytes, expected)).toBe(true);
    }
  });

  it('gives the driver the aligned middle straight from the caller, with the padded head and tail, in one call', async () => {
    const { device, calls } = memoryDriver({ alignment: 512, size: 8192 });
    const data = pattern(3000, 1);
    await device.write(100, data);
    const writes = calls.filter((c) => c.op === 'write');
    expect(writes).toHaveLength(1);
    const [write] = writes as [Call];
    expect([write.offset, write.length]).toEqual([0, 3584]);
    expect(write.buffers?.map((b) => b.length)).toEqual([512, 2560, 512]);
    expect(write.buffers?.[1]?.buffer).toBe(data.buffer);
    // Only the two padding units were read.
    expect(calls.filter((c) => c.op === 'readv').map((c) => [c.offset, c.length])).toEqual([
      [0, 512],
      [3072, 512],
    ]);
  });

  it('passes an aligned write through without reading', async () => {
    const { device, calls } = memoryDriver({ alignment: 512, size: 8192 });
    const data = pattern(1024, 2);
    await device.write(512, data);
    expect(calls.map((c) => [c.op, c.offset, c.length])).toEqual([['write', 512, 1024]]);
    expect(calls[0]?.buffers?.[0]).toBe(data);
  });

  it('does not serialize independent requests: they reach the driver together', async () => {
    const { device, image, driver } = memoryDriver({ alignment: 512, size: 8192 });
    let entered = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const write = driver.write as NonNullable<BlockDriver['write']>;
    driver.write = async (...args) => {
      entered++;
      await gate;
      return write(...args);
    };
    const readv = image.readv;
    (image as { readv: DriverImage['readv'] }).readv = async (...args) => {
      entered++;
      await gate;
      return readv(...args);
    };
    const all = Promise.all([
      device.write(0, new Uint8Array(512)),
      device.write(1024, new Uint8Array(1024)),
      device.read(4096, 512),
      device.read(4096, 100), // overlapping reads do not wait for each other either
    ]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(entered).toBe(4);
    release();
    await all;
  });

  it('makes a read overlapping a read-modify-write wait for it, and one elsewhere not', async () => {
    const { device, image } = memoryDriver({ alignment: 512, size: 8192 });
    const order: string[] = [];
    const readv = image.readv;
    let hold: (() => void) | undefined;
    (image as { readv: DriverImage['readv'] }).readv = async (offset, buffers) => {
      if (offset === 0 && !hold) await new Promise<void>((resolve) => (hold = resolve)); // the RMW's read of unit 0
      return readv(offset, buffers);
    };
    const rmw = device.write(10, new Uint8Array(10).fill(9)).then(() => order.push('rmw'));
    await new Promise((resolve) => setTimeout(resolve, 1));
    const overlapping = device.read(0, 512).then((bytes) => order.push(`overlapping:${bytes[10]}`));
    const elsewhere = device.read(1024, 512).then(() => order.push('elsewhere'));
    await elsewhere;
    expect(order).toEqual(['elsewhere']);
    hold?.();
    await Promise.all([rmw, overlapping]);
    expect(order).toEqual(['elsewhere', 'rmw', 'overlapping:9']);
  });
});

describe('BlockDevice zeroes and discard', () => {
  it("uses the driver's zero for the aligned part and zeroes the unaligned ends in place", async () => {
    const { device, bytes, calls } = memoryDriver({ alignment: 512, size: 8192, zero: true });
    bytes.fill(0x11);
    await device.writeZeroes(100, 4000, { mayUnmap: true });
    expect(calls.filter((c) => c.op === 'zero')).toEqual([
      { op: 'zero', offset: 512, length: 3584, options: { mayUnmap: true } },
    ]);
    const expected = new Uint8Array(8192).fill(0x11);
    expected.fill(0, 100, 4100);
    expect(sameBytes(bytes, expected)).toBe(true);
  });

  it('writes zeros from one shared bounded buffer when the driver has no zero', async () => {
    const size = 64 * 1024 * 1024;
    const { device, bytes, calls } = memoryDriver({ alignment: 512, size });
    bytes.fill(0x22);
    await device.writeZeroes(0, size);
    const writes = calls.filter((c) => c.op === 'write');
    expect(writes.length).toBe(4);
    const arrays = new Set(writes.flatMap((c) => (c.buffers ?? []).map((b) => b.buffer)));
    expect(arrays.size).toBe(1);
    for (const array of arrays) expect(array.byteLength).toBeLessThanOrEqual(1024 * 1024);
    for (const write of writes) expect(write.length).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(bytes.every((b) => b === 0)).toBe(true);
  });

  it("discards with the driver's discard, else its zero with mayUnmap, else zeros written", async () => {
    const both = memoryDriver({ alignment: 512, size: 4096, zero: true, discard: true });
    await both.device.discard(0, 2048);
    expect(both.calls.map((c) => c.op)).toEqual(['discard']);

    const zeroOnly = memoryDriver({ alignment: 512, size: 4096, zero: true });
    await zeroOnly.device.discard(512, 1024);
    expect(zeroOnly.calls).toEqual([{ op: 'zero', offset: 512, length: 1024, options: { mayUnmap: true } }]);

    const neither = memoryDriver({ alignment: 512, size: 4096 });
    neither.bytes.fill(5);
    await neither.device.discard(1, 4094);
    expect(neither.bytes[0]).toBe(5);
    expect(neither.bytes[4095]).toBe(5);
    expect(neither.bytes.subarray(1, 4095).every((b) => b === 0)).toBe(true);
  });
});

describe('BlockDevice flush and FUA', () => {
  it("flushes with the driver's flush, else the source's, and not at all when read-only", async () => {
    const withFlush = memoryDriver({ alignment: 1, size: 16, flush: true });
    await withFlush.device.flush();
    expect(withFlush.calls.map((c) => c.op)).toEqual(['flush']);

    const without = memoryDriver({ alignment: 1, size: 16 });
    let sourceFlushes = 0;
    without.source.flush = async () => {
      sourceFlushes++;
    };
    await without.device.flush();
    expect(sourceFlushes).toBe(1);

    const readOnly = new BlockDevice(without.driver, without.image, without.source);
    await readOnly.flush();
    expect(sourceFlushes).toBe(1);
  });

  it('passes fua to the driver and flushes after the write', async () => {
    const { device, calls } = memoryDriver({ alignment: 512, size: 4096, flush: true });
    await device.write(512, new Uint8Array(512), { fua: true });
    expect(calls.map((c) => [c.op, c.options])).toEqual([
      ['write', { fua: true }],
      ['flush', undefined],
    ]);
  });
});

describe('BlockDevice write bounds', () => {
  it('refuses writes beyond the virtual size before they reach the driver', async () => {
    const { device, calls } = memoryDriver({ alignment: 512, size: 4096 });
    for (const [offset, length] of [
      [4096, 1],
      [4095, 2],
      [0, 4097],
    ] as const) {
      await expect(device.write(offset, new Uint8Array(length))).rejects.toBeInstanceOf(OutOfRangeError);
      await expect(device.writeZeroes(offset, length)).rejects.toBeInstanceOf(OutOfRangeError);
      await expect(device.discard(offset, length)).rejects.toBeInstanceOf(OutOfRangeError);
    }
    await expect(device.writeZeroes(2 ** 53, 1)).rejects.toBeInstanceOf(UnsafeOffsetError);
    await expect(device.write(4096, new Uint8Array(0))).resolves.toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('refuses every write on a read-only device', async () => {
    const { driver, image, source, calls } = memoryDriver({ alignment: 512, size: 4096 });
    const device = new BlockDevice(driver, image, source);
    expect(device.writable).toBe(false);
    await expect(device.write(0, new Uint8Array(512))).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(device.writeZeroes(0, 512)).rejects.toMatchObject({ code: 'EROFS', message: 'Image is read-only' });
    await expect(device.discard(0, 512)).rejects.toBeInstanceOf(ReadOnlyError);
    expect(calls).toEqual([]);
  });
});

describe('BlockDevice check', () => {
  it('passes repair through, and refuses it on a read-only device', async () => {
    const seen: CheckOptions[] = [];
    const { driver, image, source } = memoryDriver({ alignment: 1, size: 16 });
    driver.check = async (_image, options) => {
      seen.push(options ?? {});
      return { problems: [] };
    };
    await new BlockDevice(driver, image, source, { writable: true }).check({ repair: 'leaks' });
    await new BlockDevice(driver, image, source).check();
    await expect(new BlockDevice(driver, image, source).check({ repair: 'all' })).rejects.toBeInstanceOf(ReadOnlyError);
    expect(seen).toEqual([{ repair: 'leaks' }, {}]);
  });
});

describe('BlockDevice close', () => {
  it('waits for every request in flight, reads too, and closes the image after them', async () => {
    const { device, image, driver, bytes } = memoryDriver({ alignment: 512, size: 8192, slow: true });
    bytes.set(pattern(8192, 3));
    const events: string[] = [];
    const { readv, close } = image;
    const write = driver.write as NonNullable<BlockDriver['write']>;
    Object.assign(image, {
      readv: async (offset: number, buffers: Uint8Array[]) => {
        await readv(offset, buffers);
        events.push('readv');
      },
      close: async () => {
        events.push('image closed');
        await close();
      },
    });
    driver.write = async (...args) => {
      await write(...args);
      events.push('write');
    };
    const requests = [
      device.read(0, 4096),
      device.read(100, 10),
      device.write(4096, new Uint8Array(4096)),
      device.write(1, new Uint8Array(1)), // a read-modify-write: a readv, then a write
    ];
    await device.close();
    await expect(Promise.all(requests)).resolves.toHaveLength(4);
    expect([...events].sort()).toEqual(['image closed', 'readv', 'readv', 'readv', 'write', 'write']);
    expect(events.at(-1)).toBe('image closed');
  });

  it('fails every call after close with a clear typed error', async () => {
    const { device } = memoryDriver({ alignment: 512, size: 4096, flush: true });
    const closing = device.close();
    expect(device.closed).toBe(true);
    const closed = { constructor: VdiskError, code: 'EINVAL', message: 'The image is closed' };
    await expect(device.read(0, 1)).rejects.toMatchObject(closed);
    await expect(device.write(0, new Uint8Array(1))).rejects.toMatchObject(closed);
    await expect(device.writeZeroes(0, 1)).rejects.toMatchObject(closed);
    await expect(device.discard(0, 1)).rejects.toMatchObject(closed);
    await expect(device.flush()).rejects.toMatchObject(closed);
    await expect(device.blockStatus(0, 1)).rejects.toMatchObject(closed);
    await closing;
    await expect(device.close()).resolves.toBeUndefined();
  });
});
