import { type Backing, readThroughBacking } from './backing-chain.js';
import type { ByteSource } from './byte-source.js';
import type {
  BlockDriver,
  BlockStatusOptions,
  BlockStatusRun,
  CheckOptions,
  CheckReport,
  DriverImage,
  FormatSpecificInfo,
  WriteOptions,
  ZeroOptions,
} from './driver.js';
import { DriverContractError, InvalidArgumentError, OutOfRangeError, ReadOnlyError, VdiskError } from './errors.js';
import { assertExactRange } from './exact-offset.js';
import { PROBE_SIZE } from './probe-size.js';
import { TrackedRequests } from './tracked-requests.js';

export interface BlockDeviceOptions {
  /** Whether the image was opened for writing. Default false. */
  writable?: boolean;
  /**
   * The format was guessed by probing (a raw win by score 1). With `reprobe`, a write that
   * touches the first or the last sector is refused when the disk it leaves would probe as
   * another format (QEMU's raw_check_write, CVE-2008-2004).
   */
  probeGuessed?: boolean;
  /** The format a disk with these first and last sectors would probe as (the registry's probe); undefined for none. */
  reprobe?: (firstSector: Uint8Array, lastSector: Uint8Array | undefined, size: number) => string | undefined;
  /** The image's parent, opened (see backing-chain.ts): reads of what the image does not hold come from it. */
  backing?: Backing;
}

/** What a write-like request puts into its range. */
type Mutation = { kind: 'write'; bytes: Uint8Array } | { kind: 'zero'; mayUnmap: boolean } | { kind: 'discard' };

/** Zeros written for a driver without `zero`: one shared buffer, never one sized by the request. */
const ZERO_BUFFER_SIZE = 1024 * 1024;
/** The most bytes of zeros in one driver write. */
const ZERO_WRITE_SIZE = 16 * 1024 * 1024;
let zeroBuffer: Uint8Array | undefined;

/**
 * An open image as users see it: reads and writes at any offset and length. This is where
 * QEMU's block layer work happens once for every driver: bounds are checked; requests are
 * padded to the driver's alignment with bounce buffers (QEMU's request padding), with a
 * read-modify-write of unaligned heads and tails for writes; overlapping read-modify-writes
 * are serialized (QEMU's serialising requests); zeroing and discarding fall back to
 * writing zeros; and `close` waits for every request in flight. So a driver only ever sees
 * aligned, in-range requests.
 *
 * Independent requests run concurrently: the device orders only requests that overlap a
 * read-modify-write. A driver that must serialize (its metadata) holds its own mutex.
 */
export class BlockDevice {
  readonly driver: BlockDriver;
  readonly image: DriverImage;
  readonly source: ByteSource;
  readonly virtualSize: number;
  readonly requestAlignment: number;
  /** Opened for writing: write, writeZeroes, discard and check's repair are allowed. */
  readonly writable: boolean;
  /**
   * The format was guessed by probing (raw, because nothing else matched). Writes to the
   * first sector are then restricted, as QEMU does; naming the format lifts it.
   */
  readonly probeGuessed: boolean;
  readonly #reprobe: BlockDeviceOptions['reprobe'];
  readonly #requests = new TrackedRequests();
  #closing: Promise<void> | undefined;
  /** The parent image, when this one has one (see backing-chain.ts). */
  readonly backing: Backing | undefined;

  constructor(driver: BlockDriver, image: DriverImage, source: ByteSource, options: BlockDeviceOptions = {}) {
    const { virtualSize, requestAlignment } = image;
    if (!Number.isSafeInteger(requestAlignment) || requestAlignment < 1) {
      throw new DriverContractError(`Driver ${driver.name} gave request alignment ${requestAlignment}`);
    }
    if (!Number.isSafeInteger(virtualSize) || virtualSize < 0 || virtualSize % requestAlignment !== 0) {
      throw new DriverContractError(
        `Driver ${driver.name} gave virtual size ${virtualSize}, not a multiple of its alignment ${requestAlignment}`,
      );
    }
    this.driver = driver;
    this.image = image;
    this.source = source;
    this.virtualSize = virtualSize;
    this.requestAlignment = requestAlignment;
    this.writable = options.writable ?? false;
    this.probeGuessed = options.probeGuessed ?? false;
    this.#reprobe = this.probeGuessed ? options.reprobe : undefined;
    this.backing = options.backing;
  }

  get format(): string {
    return this.driver.name;
  }

  /** True once `close` was called: every later call fails with `The image is closed`. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Reads `length` bytes at `offset` into a new buffer. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#checkOpen();
    this.#checkRange(offset, length, 'Read'); // before allocating: a bad length must not become a huge buffer
    let buffer: Uint8Array;
    try {
      buffer = new Uint8Array(length);
    } catch (error) {
      throw new InvalidArgumentError(`Cannot allocate a buffer of ${length} bytes for this read`, { cause: error });
    }
    await this.readInto(buffer, offset);
    return buffer;
  }

  /** Fills `buffer` with the virtual disk's bytes at `offset`. */
  async readInto(buffer: Uint8Array, offset: number): Promise<void> {
    this.#checkOpen();
    this.#checkRange(offset, buffer.length, 'Read');
    if (buffer.length === 0) return;
    const [alignedStart, alignedEnd] = this.#alignedRange(offset, offset + buffer.length);
    await this.#requests.run(alignedStart, alignedEnd, false, () => this.#readPadded(buffer, offset));
  }

  async #readPadded(buffer: Uint8Array, offset: number): Promise<void> {
    const align = this.requestAlignment;
    const end = offset + buffer.length;
    const [alignedStart, alignedEnd] = this.#alignedRange(offset, end);

    if (alignedStart === offset && alignedEnd === end) {
      await this.#readv(offset, [buffer]);
      return;
    }
    if (alignedEnd - alignedStart <= 2 * align) {
      // Small request: one bounce buffer of at most two alignment units.
      const bounce = new Uint8Array(alignedEnd - alignedStart);
      await this.#readv(alignedStart, [bounce]);
      buffer.set(bounce.subarray(offset - alignedStart, end - alignedStart));
      return;
    }
    // Pad the head and the tail with one bounce unit each; the aligned middle is read
    // straight into the caller's buffer, in the same driver request.
    const head = offset === alignedStart ? undefined : new Uint8Array(align);
    const tail = end === alignedEnd ? undefined : new Uint8Array(align);
    const middleStart = head ? alignedStart + align : offset;
    const middleEnd = tail ? alignedEnd - align : end;
    const buffers: Uint8Array[] = [];
    if (head) buffers.push(head);
    buffers.push(buffer.subarray(middleStart - offset, middleEnd - offset));
    if (tail) buffers.push(tail);
    await this.#readv(alignedStart, buffers);
    if (head) buffer.set(head.subarray(offset - alignedStart), 0);
    if (tail) buffer.set(tail.subarray(0, end - middleEnd), middleEnd - offset);
  }

  /**
   * Writes `bytes` at `offset`, at any offset and length: an unaligned head or tail is a
   * read-modify-write of its alignment unit, and the aligned middle goes to the driver in
   * the same call, straight from `bytes`. Resolves when the write is done (it survives a
   * crash of this process); `flush` makes it durable. With `fua` it is durable when it
   * resolves: core passes `fua` to the driver and then flushes, whatever the driver did
   * with it (one rule for every driver, no capability flag).
   */
  async write(offset: number, bytes: Uint8Array, options: WriteOptions = {}): Promise<void> {
    this.#checkWrite(offset, bytes.length, 'Write');
    if (bytes.length === 0) return;
    await this.#mutate(offset, bytes.length, { kind: 'write', bytes }, options.fua ?? false);
  }

  /**
   * Makes `[offset, offset + length)` read as zeros: the driver's `zero` for the aligned
   * part where it has one, else zeros written through the driver's `write`.
   */
  async writeZeroes(offset: number, length: number, options: ZeroOptions = {}): Promise<void> {
    this.#checkWrite(offset, length, 'Write zeroes');
    if (length === 0) return;
    await this.#mutate(offset, length, { kind: 'zero', mayUnmap: options.mayUnmap ?? false }, false);
  }

  /**
   * Drops the data of `[offset, offset + length)`: afterwards it reads as zeros (vdisk's
   * rule, stronger than NBD's trim). The driver's `discard`, else its `zero` with
   * `mayUnmap`, else zeros written. Unaligned heads and tails are zeroed in place.
   */
  async discard(offset: number, length: number): Promise<void> {
    this.#checkWrite(offset, length, 'Discard');
    if (length === 0) return;
    await this.#mutate(offset, length, { kind: 'discard' }, false);
  }

  /**
   * Makes every write that has resolved durable: the driver's `flush`, else the byte
   * source's (fdatasync). Nothing to do on a read-only device.
   */
  async flush(): Promise<void> {
    this.#checkOpen();
    if (!this.writable) return;
    await this.#requests.run(0, 0, false, () => this.#flushNow());
  }

  async #flushNow(): Promise<void> {
    if (this.driver.flush) await this.driver.flush.call(this.driver, this.image);
    else await this.source.flush?.();
  }

  async #mutate(offset: number, length: number, mutation: Mutation, fua: boolean): Promise<void> {
    const end = offset + length;
    const [alignedStart, alignedEnd] = this.#alignedRange(offset, end);
    const padded = alignedStart !== offset || alignedEnd !== end;
    // A guarded write reads, probes and writes the sectors probing looks at (the first, and
    // the last, where a fixed VHD keeps its footer): nothing may come between. Such writes
    // are rare (the edges of a guessed raw disk), so they are serialized against everything.
    const guarded = this.#reprobe !== undefined && (offset < PROBE_SIZE || end > this.virtualSize - PROBE_SIZE);
    const trackStart = guarded ? 0 : alignedStart;
    const trackEnd = guarded ? this.virtualSize : alignedEnd;
    await this.#requests.run(trackStart, trackEnd, padded || guarded, async () => {
      if (guarded) await this.#checkProbedSectors(offset, end, mutation);
      if (mutation.kind === 'write') await this.#writePadded(offset, mutation.bytes, fua);
      else await this.#zeroPadded(offset, end, mutation);
      if (fua) await this.#flushNow();
    });
  }

  async #writePadded(offset: number, bytes: Uint8Array, fua: boolean): Promise<void> {
    const align = this.requestAlignment;
    const end = offset + bytes.length;
    const [alignedStart, alignedEnd] = this.#alignedRange(offset, end);
    if (alignedStart === offset && alignedEnd === end) {
      await this.#driverWrite(offset, [bytes], fua);
      return;
    }
    if (alignedEnd - alignedStart <= 2 * align) {
      // Small request: one bounce buffer of at most two units, read, patched, written.
      const bounce = new Uint8Array(alignedEnd - alignedStart);
      await this.#readv(alignedStart, [bounce]);
      bounce.set(bytes, offset - alignedStart);
      await this.#driverWrite(alignedStart, [bounce], fua);
      return;
    }
    // QEMU's write padding: the head and tail units are read, patched and written in the
    // same driver call as the aligned middle, which goes straight from the caller's bytes.
    const head = offset === alignedStart ? undefined : new Uint8Array(align);
    const tail = end === alignedEnd ? undefined : new Uint8Array(align);
    const middleStart = head ? alignedStart + align : offset;
    const middleEnd = tail ? alignedEnd - align : end;
    await Promise.all([head && this.#readv(alignedStart, [head]), tail && this.#readv(middleEnd, [tail])]);
    const buffers: Uint8Array[] = [];
    if (head) {
      head.set(bytes.subarray(0, middleStart - offset), offset - alignedStart);
      buffers.push(head);
    }
    buffers.push(bytes.subarray(middleStart - offset, middleEnd - offset));
    if (tail) {
      tail.set(bytes.subarray(middleEnd - offset), 0);
      buffers.push(tail);
    }
    await this.#driverWrite(alignedStart, buffers, fua);
  }

  async #zeroPadded(offset: number, end: number, mutation: Mutation): Promise<void> {
    const align = this.requestAlignment;
    const [alignedStart, alignedEnd] = this.#alignedRange(offset, end);
    // The aligned middle, and the units at either end that the request covers in part.
    const middleStart = offset === alignedStart ? offset : alignedStart + align;
    const middleEnd = end === alignedEnd ? end : alignedEnd - align;
    if (middleStart >= middleEnd && alignedEnd - alignedStart === align) {
      await this.#zeroInUnit(alignedStart, offset, end);
      return;
    }
    if (offset !== alignedStart) await this.#zeroInUnit(alignedStart, offset, middleStart);
    if (middleEnd > middleStart) await this.#zeroAligned(middleStart, middleEnd - middleStart, mutation);
    if (end !== alignedEnd) await this.#zeroInUnit(middleEnd, middleEnd, end);
  }

  /** Read-modify-write of one unit, zeroing `[from, to)` of it. */
  async #zeroInUnit(unit: number, from: number, to: number): Promise<void> {
    const bounce = new Uint8Array(this.requestAlignment);
    await this.#readv(unit, [bounce]);
    bounce.fill(0, from - unit, to - unit);
    await this.#driverWrite(unit, [bounce], false);
  }

  async #zeroAligned(offset: number, length: number, mutation: Mutation): Promise<void> {
    const { driver, image } = this;
    if (mutation.kind === 'discard' && driver.discard) {
      await driver.discard.call(driver, image, offset, length);
      return;
    }
    if (driver.zero) {
      const mayUnmap = mutation.kind === 'discard' || (mutation.kind === 'zero' && mutation.mayUnmap);
      await driver.zero.call(driver, image, offset, length, { mayUnmap });
      return;
    }
    // Zeros through write, from one shared buffer, in driver calls of at most 16 MiB.
    zeroBuffer ??= new Uint8Array(ZERO_BUFFER_SIZE);
    const zeros = zeroBuffer;
    const align = this.requestAlignment;
    const step = Math.max(align, Math.floor(ZERO_WRITE_SIZE / align) * align);
    for (let at = offset; at < offset + length; at += step) {
      const size = Math.min(step, offset + length - at);
      const buffers: Uint8Array[] = [];
      for (let left = size; left > 0; left -= zeros.length)
        buffers.push(zeros.subarray(0, Math.min(left, zeros.length)));
      await this.#driverWrite(at, buffers, false);
    }
  }

  async #driverWrite(offset: number, buffers: readonly Uint8Array[], fua: boolean): Promise<void> {
    const write = this.driver.write;
    if (!write) throw new ReadOnlyError();
    await write.call(this.driver, this.image, offset, buffers, fua ? { fua: true } : {});
  }

  /**
   * QEMU's raw_check_write, extended to the last sector: on a guessed format, the first and
   * last sectors the request would leave must still probe as this format, or the request
   * fails with EPERM. (vdisk probes a file's last sector too, for fixed VHDs, so a guest of
   * a guessed raw disk could otherwise plant a footer there: CVE-2008-2004's hazard.)
   */
  async #checkProbedSectors(offset: number, end: number, mutation: Mutation): Promise<void> {
    const reprobe = this.#reprobe;
    if (!reprobe) return;
    const size = this.virtualSize;
    const first = await this.#edgeAfter(0, Math.min(PROBE_SIZE, size), offset, end, mutation);
    const last = size >= PROBE_SIZE ? await this.#edgeAfter(size - PROBE_SIZE, size, offset, end, mutation) : undefined;
    const format = reprobe(first, last, size);
    if (format !== undefined && format !== this.format) throw new VdiskError('EPERM', 'Operation not permitted');
  }

  /** Bytes `[from, to)` of the disk as the request would leave them (read through the aligned cover). */
  async #edgeAfter(from: number, to: number, offset: number, end: number, mutation: Mutation): Promise<Uint8Array> {
    const [coverStart, coverEnd] = this.#alignedRange(from, to);
    const cover = new Uint8Array(coverEnd - coverStart);
    await this.#readv(coverStart, [cover]);
    const bytes = cover.subarray(from - coverStart, to - coverStart);
    const start = Math.max(from, offset);
    const stop = Math.min(to, end);
    if (start < stop) {
      if (mutation.kind === 'write') bytes.set(mutation.bytes.subarray(start - offset, stop - offset), start - from);
      else bytes.fill(0, start - from, stop - from);
    }
    return bytes;
  }

  /**
   * The allocation map of `[offset, offset + length)`: runs in order, covering the range,
   * adjacent runs of the same kind merged. A driver without `blockStatus` reports data.
   * With `wantZero: false`, data runs may include bytes that read as zeros (QEMU's
   * want_zero): cheaper, for callers that check for zeros themselves.
   */
  async blockStatus(offset: number, length: number, options?: BlockStatusOptions): Promise<BlockStatusRun[]> {
    this.#checkOpen();
    this.#checkRange(offset, length, 'Block status');
    if (length === 0) return [];
    const end = offset + length;
    const driverStatus = this.driver.blockStatus;
    if (!driverStatus) return [{ offset, length, data: true }];

    const [alignedStart, alignedEnd] = this.#alignedRange(offset, end);
    const runs = await this.#requests.run(alignedStart, alignedEnd, false, () =>
      driverStatus.call(this.driver, this.image, alignedStart, alignedEnd - alignedStart, options),
    );

    const result: BlockStatusRun[] = [];
    let expected = alignedStart;
    for (const run of runs) {
      if (run.offset !== expected || !(run.length > 0)) {
        throw new DriverContractError(
          `Driver ${this.driver.name} returned a block status that does not cover the range`,
        );
      }
      expected += run.length;
      // Clip to the caller's range.
      const start = Math.max(run.offset, offset);
      const stop = Math.min(run.offset + run.length, end);
      if (start >= stop) continue;
      const clipped: BlockStatusRun = { offset: start, length: stop - start, data: run.data };
      if (!run.data && run.allocated) clipped.allocated = true;
      if (run.data && run.fileOffset !== undefined) clipped.fileOffset = run.fileOffset + (start - run.offset);
      appendRun(result, clipped);
    }
    if (expected !== alignedEnd) {
      throw new DriverContractError(`Driver ${this.driver.name} returned a block status that does not cover the range`);
    }
    return result;
  }

  /** Format-specific information, when the driver gives any. */
  info(): FormatSpecificInfo | undefined {
    return this.driver.info?.call(this.driver, this.image);
  }

  /** Whether the driver can check its images (`qemu-img check`). */
  get canCheck(): boolean {
    return typeof this.driver.check === 'function';
  }

  /** The driver's consistency check; with `repair` (which needs a writable device), `qemu-img check -r`. */
  async check(options: CheckOptions = {}): Promise<CheckReport> {
    this.#checkOpen();
    const check = this.driver.check;
    if (!check) throw new VdiskError('EINVAL', `This image format (${this.format}) does not support checks`);
    if (options.repair && !this.writable) throw new ReadOnlyError();
    return this.#requests.run(0, 0, false, () =>
      check.call(this.driver, this.image, options.repair ? { repair: options.repair } : {}),
    );
  }

  /**
   * Waits for every request in flight (reads too), then closes the driver's image and the
   * byte source. Every call after it has begun fails with `The image is closed`. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#requests.drain();
    try {
      await this.image.close();
    } finally {
      try {
        await this.source.close();
      } finally {
        await this.#closeBacking();
      }
    }
  }

  // --- Backing chains: what the image does not hold comes from its parent (backing-chain.ts).

  /** An aligned, in-range read: the driver's alone, or through the parent. */
  #readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    if (this.backing) return readThroughBacking(this, this.backing, offset, buffers);
    return this.image.readv(offset, buffers);
  }

  async #closeBacking(): Promise<void> {
    await this.backing?.device.close();
  }

  // ---

  #checkOpen(): void {
    if (this.#closing) throw new VdiskError('EINVAL', 'The image is closed');
  }

  #checkWrite(offset: number, length: number, what: string): void {
    this.#checkOpen();
    if (!this.writable) throw new ReadOnlyError();
    this.#checkRange(offset, length, what);
  }

  #checkRange(offset: number, length: number, what: string): void {
    assertExactRange(offset, length, what);
    if (offset + length > this.virtualSize) {
      throw new OutOfRangeError(
        `${what} of ${length} bytes at offset ${offset} is beyond the end of the image (virtual size ${this.virtualSize})`,
      );
    }
  }

  /** `[start, end)` widened to the driver's alignment. */
  #alignedRange(start: number, end: number): [number, number] {
    const align = this.requestAlignment;
    const alignedStart = start - (start % align);
    const alignedEnd = end % align === 0 ? end : end - (end % align) + align;
    return [alignedStart, alignedEnd];
  }
}

/** Appends `run`, merging it into the last run when they are the same kind and contiguous (in the file too). */
export function appendRun(runs: BlockStatusRun[], run: BlockStatusRun): void {
  const last = runs[runs.length - 1];
  if (
    last &&
    last.offset + last.length === run.offset &&
    last.data === run.data &&
    Boolean(last.allocated) === Boolean(run.allocated) &&
    (last.fileOffset === undefined
      ? run.fileOffset === undefined
      : run.fileOffset !== undefined && last.fileOffset + last.length === run.fileOffset)
  ) {
    last.length += run.length;
    return;
  }
  runs.push({ ...run });
}
