import type { ByteSource } from '@vdisk/core';

/** An image to run the suite on, with what its virtual disk must read as. */
export interface ConformanceImage {
  /** The image's bytes, as the driver will open them. A fresh source each time it is asked for. */
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
}

export type MakeImage = () => ConformanceImage | Promise<ConformanceImage>;
