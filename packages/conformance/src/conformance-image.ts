import type { BlockDevice, ByteSource } from '@vdisk/core';

/** An image to run the suite on, with what its virtual disk must read as. */
export interface ConformanceImage {
  /**
   * The image's bytes, as the driver will open them. A fresh source each time it is asked
   * for; writable (MemorySource, `FileSource.open(path, { writable: true })`) when the
   * driver has `write`, for the writable checks.
   */
  source: ByteSource;
  /**
   * The virtual disk's bytes, known without the driver under test (written out from the
   * spec, or the data the image was built from): the suite compares every read with it.
   */
  expected: Uint8Array;
  /** Open options (`-o key=value`). */
  options?: Record<string, string>;
  /** The file name passed to `probe`. */
  filename?: string;
  /**
   * A fresh source over the same bytes, once `source` was written and closed: the writable
   * checks reopen the image with it to see that writes were kept (in the file, not only in
   * the driver's memory). Without it, that part of the flush check is skipped.
   */
  reopen?: () => ByteSource | Promise<ByteSource>;
  /**
   * For a format with a parent (a backing file): opens the parent afresh, as core's chain
   * would (read-only). The suite hands it to the image (`backingOpened`) and reads through
   * it, so `expected` is the disk the image and its parent make together. Each call a new
   * device: closing the image's device closes it.
   */
  parent?: () => Promise<BlockDevice>;
}

export type MakeImage = () => ConformanceImage | Promise<ConformanceImage>;
