import type { BlockStatusOptions, BlockStatusRun, WriteOptions, ZeroOptions } from '@vdisk/core';

/**
 * What the server needs of a device: a `BlockDevice` of @vdisk/core is one, and so is
 * anything else with these members (a test double, an embedder's own disk). The write
 * methods are capabilities: without `write`, or with `writable` false, the export is
 * read-only (NBD's READ_ONLY flag, and EPERM for writes).
 */
export interface NbdDevice {
  readonly virtualSize: number;
  /** The device's natural alignment: the export's minimum block size (when a power of two up to 64 KiB). */
  readonly requestAlignment: number;
  readonly writable?: boolean;
  readInto(buffer: Uint8Array, offset: number): Promise<void>;
  /** The allocation map; without it every byte is data. */
  blockStatus?(offset: number, length: number, options?: BlockStatusOptions): Promise<BlockStatusRun[]>;
  write?(offset: number, bytes: Uint8Array, options?: WriteOptions): Promise<void>;
  writeZeroes?(offset: number, length: number, options?: ZeroOptions): Promise<void>;
  discard?(offset: number, length: number): Promise<void>;
  flush?(): Promise<void>;
  /**
   * The image's parent, when it has one (an overlay over its base): what the allocation
   * map calls not allocated here reads as the parent's bytes there.
   */
  readonly backing?: { readonly device: NbdDevice } | undefined;
}

/** One export of a server: a device under a name (the empty string is the default export). */
export interface NbdExport {
  name: string;
  device: NbdDevice;
  /** Serve it read-only even when the device is writable (`vdisk serve --read-only`). */
  readOnly?: boolean;
  /** Sent to clients that ask for NBD_INFO_DESCRIPTION. */
  description?: string;
}

/** Whether clients may write to the export. */
export function exportWritable(entry: NbdExport): boolean {
  return !entry.readOnly && entry.device.writable === true && typeof entry.device.write === 'function';
}
