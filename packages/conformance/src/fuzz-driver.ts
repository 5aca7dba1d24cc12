import { type BlockDriver, type ByteSource, isVdiskError, MemorySource, PROBE_SIZE, Registry } from '@vdisk/core';
import fc from 'fast-check';

/** A header or table field the fuzzer sets to boundary values. */
export interface FuzzField {
  offset: number;
  size: 1 | 2 | 4 | 8;
  littleEndian: boolean;
}

export interface FuzzDriverOptions {
  driver: BlockDriver;
  /** Valid images to mutate (their bytes). */
  images: readonly Uint8Array[];
  /** Fields worth setting to boundary values (file offsets). Random bytes are flipped too. */
  fields: readonly FuzzField[];
  numRuns?: number;
  seed?: number;
  /** The largest read the driver may make of its source besides one proportional to the file: default 1 MiB. */
  maxFixedRead?: number;
}

const BOUNDARIES = [
  0n,
  1n,
  2n,
  511n,
  512n,
  513n,
  4096n,
  0xffffn,
  0x10000n,
  0x100000n,
  0x200000n,
  0x1fffff80n,
  0x7fffffffn,
  0x80000000n,
  0xfffffffen,
  0xffffffffn,
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
];

/**
 * A byte source that fails the case when one read is larger than the file allows: a driver
 * may hold a table as large as the file, or read one request's worth, never an amount a
 * header field alone chose.
 */
class BoundedSource implements ByteSource {
  readonly #inner: MemorySource;
  readonly #limit: number;
  constructor(bytes: Uint8Array, limit: number) {
    this.#inner = new MemorySource(bytes, { writable: false });
    this.#limit = limit;
  }
  get size(): number {
    return this.#inner.size;
  }
  #guard(length: number): void {
    if (length > this.#limit) throw new Error(`read of ${length} bytes from a ${this.size}-byte file`);
  }
  read(buffer: Uint8Array, position: number): Promise<void> {
    this.#guard(buffer.length);
    return this.#inner.read(buffer, position);
  }
  async readv(buffers: readonly Uint8Array[], position: number): Promise<void> {
    let at = position;
    for (const buffer of buffers) {
      await this.read(buffer, at);
      at += buffer.length;
    }
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

function setField(bytes: Uint8Array, field: FuzzField, value: bigint): void {
  if (field.offset + field.size > bytes.length) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const masked = BigInt.asUintN(field.size * 8, value);
  if (field.size === 8) view.setBigUint64(field.offset, masked, field.littleEndian);
  else if (field.size === 4) view.setUint32(field.offset, Number(masked), field.littleEndian);
  else if (field.size === 2) view.setUint16(field.offset, Number(masked), field.littleEndian);
  else view.setUint8(field.offset, Number(masked));
}

/**
 * Property-based fuzzing of a driver through core: valid images with fields set to
 * boundary values, bytes flipped and the file cut short, then probe, open, reads, block
 * status and check. Only two outcomes are allowed: success or a typed VdiskError; never
 * another exception, and never a source read larger than the file or one request.
 */
export async function fuzzDriver(options: FuzzDriverOptions): Promise<void> {
  const { driver } = options;
  const registry = new Registry([driver]);
  const mutation = fc.record({
    image: fc.nat({ max: options.images.length - 1 }),
    fields: fc.array(
      fc.record({
        field: fc.nat({ max: Math.max(0, options.fields.length - 1) }),
        value: fc.oneof(fc.constantFrom(...BOUNDARIES), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
      }),
      { maxLength: 4 },
    ),
    flips: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
    cut: fc.option(fc.nat(), { freq: 4 }),
    reads: fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.nat({ max: 70000 }) }), {
      maxLength: 4,
    }),
  });
  await fc.assert(
    fc.asyncProperty(mutation, async (m) => {
      const original = options.images[m.image] as Uint8Array;
      let bytes = original.slice();
      for (const { field, value } of m.fields) {
        const f = options.fields[field];
        if (f) setField(bytes, f, value);
      }
      for (const { at, value } of m.flips) if (bytes.length > 0) bytes[at % Math.min(bytes.length, 8192)] = value;
      if (m.cut !== null) bytes = bytes.slice(0, m.cut % (bytes.length + 1));
      const limit = Math.max(bytes.length, options.maxFixedRead ?? 1024 * 1024);

      const first = new Uint8Array(PROBE_SIZE);
      first.set(bytes.subarray(0, PROBE_SIZE));
      const context = bytes.length >= PROBE_SIZE ? { lastSector: bytes.subarray(-PROBE_SIZE) } : {};
      const score = driver.probe(first, context);
      if (!Number.isInteger(score) || score < 0 || score > 100) throw new Error(`probe scored ${score}`);

      const typed = async (step: string, fn: () => Promise<unknown>) => {
        try {
          await fn();
          return true;
        } catch (error) {
          if (!isVdiskError(error)) throw new Error(`${step} threw a ${String(error)}`, { cause: error });
          return false;
        }
      };
      let device: Awaited<ReturnType<Registry['open']>> | undefined;
      if (
        !(await typed('open', async () => {
          device = await registry.open(new BoundedSource(bytes, limit), { format: driver.name });
        }))
      ) {
        return;
      }
      const opened = device as NonNullable<typeof device>;
      try {
        const size = opened.virtualSize;
        for (const { at, length } of m.reads) {
          const offset = Math.floor(at * size);
          const len = Math.min(length, size - offset);
          await typed('read', () => opened.read(offset, len));
          await typed('blockStatus', () => opened.blockStatus(offset, Math.min(size - offset, 64 * 1024 * 1024)));
        }
        if (opened.canCheck) await typed('check', () => opened.check());
      } finally {
        await opened.close();
      }
    }),
    { numRuns: options.numRuns ?? 300, seed: options.seed },
  );
}
