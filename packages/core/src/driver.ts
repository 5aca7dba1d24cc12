import type { ByteSource } from './byte-source.js';

/**
 * The block driver contract, after QEMU's `BlockDriver`: a driver recognises its format
 * (`probe`) and maps a virtual disk onto bytes of a source (`open`). Everything generic
 * (alignment, bounds, probing, streams, the map's default) is core's job.
 *
 * Capabilities are optional methods of the driver (below): core checks for them, as
 * nbdkit does for its plugins' callbacks.
 */
export interface BlockDriver<I extends DriverImage = DriverImage> {
  /** The format's name, as given to `-f`: `raw`, `bochs`. */
  readonly name: string;
  /** A short human description of the format. */
  readonly description?: string;
  /**
   * How sure the driver is that these bytes are its format: 0 (not mine) to 100 (certain).
   * `firstSector` is the first 512 bytes of the file, zero-padded when the file is shorter.
   * A driver that scores 1 claims every file, as raw does: it wins only when nothing else
   * matches, and core reports the result as guessed.
   */
  probe(firstSector: Uint8Array, filename?: string): number;
  /** Opens an image on `source`. Rejects with a `VdiskError` (QEMU's message where it has one). */
  open(source: ByteSource, options: DriverOpenOptions): Promise<I>;

  // Optional capabilities. Absent means unsupported, and core falls back (nbdkit's
  // rule: a capability is whether its callback exists). They live on the driver, like
  // QEMU's BlockDriver callbacks, so `vdisk formats` can list them without an image.

  /**
   * The allocation map (QEMU's block status) of `[offset, offset + length)`, called with
   * the same alignment guarantees as `readv`; runs must cover the range in order. Without
   * it, core reports the whole disk as data, as QEMU does for a driver without
   * `bdrv_co_block_status`.
   */
  blockStatus?(image: I, offset: number, length: number, options?: BlockStatusOptions): Promise<BlockStatusRun[]>;
  /** Format-specific information for `info`, as in `qemu-img info`. */
  info?(image: I): FormatSpecificInfo | undefined;
  /** A consistency check, as in `qemu-img check`. */
  check?(image: I): Promise<CheckReport>;
}

export interface DriverOpenOptions {
  /** Open for writing. A read-only driver refuses with `ReadOnlyError` before reading a byte. */
  readonly writable: boolean;
  /** Format options (`-o key=value`). A driver rejects keys it does not know. */
  readonly options: Readonly<Record<string, string>>;
}

/** An open image as a driver exposes it: the handle its driver's callbacks receive. Core wraps it in a `BlockDevice`. */
export interface DriverImage {
  /** Size of the virtual disk in bytes; a multiple of `requestAlignment`. */
  readonly virtualSize: number;
  /** Core only calls `readv` with offsets and lengths that are multiples of this (QEMU's request_alignment). */
  readonly requestAlignment: number;
  /**
   * Fills `buffers`, in order, with the virtual disk's bytes from `offset`. Core guarantees
   * that the request is aligned and within the virtual size.
   */
  readv(offset: number, buffers: readonly Uint8Array[]): Promise<void>;
  /** Releases the driver's own state. Core closes the byte source. */
  close(): Promise<void>;
}

/** The optional capabilities a driver can have, by the name of their method. */
export const DRIVER_CAPABILITIES = ['blockStatus', 'info', 'check'] as const;
export type DriverCapability = (typeof DRIVER_CAPABILITIES)[number];

export function driverCapabilities(driver: BlockDriver): DriverCapability[] {
  return DRIVER_CAPABILITIES.filter((name) => typeof driver[name] === 'function');
}

/** What a caller of `blockStatus` wants to know. */
export interface BlockStatusOptions {
  /**
   * QEMU's `want_zero`. True (the default): the runs say exactly which bytes are data and
   * which read as zeros, as `qemu-img map` shows them. False: the caller only wants to
   * skip what surely reads as zeros (as `bdrv_is_allocated` asks), so a driver may report
   * a run as data, without a file offset, where it would need more I/O to tell (Bochs:
   * the catalog alone, without reading the bitmaps).
   */
  wantZero?: boolean;
}

/** One run of the allocation map. */
export interface BlockStatusRun {
  /** Virtual offset of the run. */
  offset: number;
  length: number;
  /** True when the run holds data from the image; false when it is unallocated and reads as zeros. */
  data: boolean;
  /** For data runs that lie contiguously in the file: where the run starts in the file. */
  fileOffset?: number;
}

export interface FormatSpecificInfo {
  type: string;
  data: Record<string, number | string | boolean>;
}

export type CheckProblemKind = 'corruption' | 'leak';

export interface CheckProblem {
  kind: CheckProblemKind;
  /** The virtual extent or slot concerned, where there is one. */
  extent?: number;
  message: string;
}

export interface CheckReport {
  /**
   * The problems found, in order. A hostile image can have a million (one per catalog
   * entry), so a driver may list only the first ones, to keep a check's memory bounded.
   */
  problems: CheckProblem[];
  /** Problems found but not listed in `problems`, by kind. Absent or zero when every problem is listed. */
  omitted?: { corruptions: number; leaks: number };
}
