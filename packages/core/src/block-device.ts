import { type Backing, readThroughBacking } from './backing-chain.js';
import type { ByteSource } from './byte-source.js';
import type {
  BlockDriver,
  BlockStatusOptions,
  BlockStatusRun,
  CheckReport,
  DriverImage,
  FormatSpecificInfo,
} from './driver.js';
import { DriverContractError, InvalidArgumentError, OutOfRangeError, VdiskError } from './errors.js';
import { assertExactRange } from './exact-offset.js';

/**
 * An open image as users see it: reads at any offset and length. This is where QEMU's
 * block layer work happens once for every driver: bounds are checked, and requests are
 * padded to the driver's alignment with bounce buffers (QEMU's request padding), so a
 * driver only ever sees aligned, in-range requests.
 */
export class BlockDevice {
  readonly driver: BlockDriver;
  readonly image: DriverImage;
  readonly source: ByteSource;
  readonly virtualSize: number;
  readonly requestAlignment: number;
  /** The parent image, when this one has one (see backing-chain.ts). */
  readonly backing: Backing | undefined;
  #closed = false;

  constructor(driver: BlockDriver, image: DriverImage, source: ByteSource, backing?: Backing) {
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
    this.backing = backing;
  }

  get format(): string {
    return this.driver.name;
  }

  /** Reads `length` bytes at `offset` into a new buffer. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#checkRange(offset, length); // before allocating: a bad length must not become a huge buffer
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
    this.#checkRange(offset, buffer.length);
    if (buffer.length === 0) return;
    const align = this.requestAlignment;
    const end = offset + buffer.length;
    const alignedStart = offset - (offset % align);
    const alignedEnd = end % align === 0 ? end : end - (end % align) + align;

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
   * The allocation map of `[offset, offset + length)`: runs in order, covering the range,
   * adjacent runs of the same kind merged. A driver without `blockStatus` reports data.
   * With `wantZero: false`, data runs may include bytes that read as zeros (QEMU's
   * want_zero): cheaper, for callers that check for zeros themselves.
   */
  async blockStatus(offset: number, length: number, options?: BlockStatusOptions): Promise<BlockStatusRun[]> {
    this.#checkRange(offset, length);
    if (length === 0) return [];
    const end = offset + length;
    const driverStatus = this.driver.blockStatus;
    if (!driverStatus) return [{ offset, length, data: true }];

    const align = this.requestAlignment;
    const alignedStart = offset - (offset % align);
    const alignedEnd = end % align === 0 ? end : end - (end % align) + align;
    const runs = await driverStatus.call(this.driver, this.image, alignedStart, alignedEnd - alignedStart, options);

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
      if (run.data && run.fileOffset !== undefined) clipped.fileOffset = run.fileOffset + (start - run.offset);
      if (!run.data && run.allocated) clipped.allocated = true;
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

  async check(): Promise<CheckReport> {
    const check = this.driver.check;
    if (!check) throw new VdiskError('EINVAL', `This image format (${this.format}) does not support checks`);
    return check.call(this.driver, this.image);
  }

  /** Closes the driver's image and then the byte source. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
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

  #checkRange(offset: number, length: number): void {
    assertExactRange(offset, length, 'Read');
    if (offset + length > this.virtualSize) {
      throw new OutOfRangeError(
        `Read of ${length} bytes at offset ${offset} is beyond the end of the image (virtual size ${this.virtualSize})`,
      );
    }
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
