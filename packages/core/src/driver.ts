import type { BlockDevice } from './block-device.js';
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
   * QEMU's `supports_backing`: the format can have a parent (VMDK, Bochs redologs and sparse
   * layers). Then a run it does not hold is `present: false, zero: true` in the map even
   * when it has no parent; in a format without one, such a run is `present: true, zero:
   * true` (qemu-img map of a VDI or VHD hole).
   */
  readonly supportsBacking?: boolean;
  /**
   * How sure the driver is that these bytes are its format: 0 (not mine) to 100 (certain).
   * `firstSector` is the first 512 bytes of the file, zero-padded when the file is shorter.
   * `context` adds the file's name and its last sector, for a format whose signature is at
   * the end (a fixed VHD's footer). A driver that scores 1 claims every file, as raw does:
   * it wins only when nothing else matches, and core reports the result as guessed.
   */
  probe(firstSector: Uint8Array, context?: ProbeContext): number;
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
  /**
   * A consistency check, as in `qemu-img check`. With `repair` (`qemu-img check -r`, on an
   * image opened writable), `leaks` reclaims leaked space only and `all` may also fix
   * corruption; the report then lists what is left, and `repaired` counts what was fixed.
   */
  check?(image: I, options?: CheckOptions): Promise<CheckReport>;

  // Write capabilities (QEMU's bdrv_co_pwritev, bdrv_co_flush, bdrv_co_pwrite_zeroes,
  // bdrv_co_pdiscard, bdrv_co_create; nbdkit's pwrite, flush, zero, trim). A driver
  // without `write` is read-only: core refuses a writable open before the driver reads a
  // byte. Core guarantees alignment and range for all of them, as for `readv`; unaligned
  // heads and tails are core's read-modify-write.

  /**
   * Writes `buffers`, in order, at `offset` of the virtual disk. Resolves only when the
   * write is done (a crash after that loses it only if no flush followed: what is
   * acknowledged must survive a process crash, a flushed write a power loss). The buffers
   * are the caller's (and, for zeros, one buffer shared by every request): read them, never
   * change them, and let go of them when the write resolves. `fua` is NBD's force unit
   * access, passed on for a driver that can use it; core flushes after every FUA write
   * anyway (the driver's `flush`, else the source's), so a driver may ignore it.
   */
  write?(image: I, offset: number, buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void>;
  /** Makes every write that has resolved durable (fdatasync of what the image wrote). */
  flush?(image: I): Promise<void>;
  /**
   * Makes `[offset, offset + length)` read as zeros, cheaper than writing zeros (a bitmap
   * bit, a zeroed grain). Without it, core writes zeros through `write`.
   */
  zero?(image: I, offset: number, length: number, options?: ZeroOptions): Promise<void>;
  /**
   * Drops the data of `[offset, offset + length)`: afterwards it reads as zeros (vdisk's
   * rule for every format, stronger than NBD's TRIM). Without it, core calls `zero`.
   */
  discard?(image: I, offset: number, length: number): Promise<void>;
  /**
   * Writes a new, empty image of `virtualSize` bytes onto `target`, which is empty and
   * writable (a source, not a path, so that a browser can create images too). The caller
   * then opens it with `open`. Rejects with a `VdiskError` for options it does not know.
   */
  create?(target: ByteSource, options: CreateOptions): Promise<void>;
}

/**
 * What `probe` may look at besides the first sector. QEMU's probe sees only the first 512
 * bytes, so it guesses raw for a fixed VHD, whose footer is only in the file's last 512
 * bytes; vdisk reads that sector too, once, for every driver.
 */
export interface ProbeContext {
  /** The file's name, as the caller gave it. */
  filename?: string;
  /** The file's last 512 bytes; absent when the file is shorter than 512 bytes. */
  lastSector?: Uint8Array;
  /** The file's size in bytes. */
  fileSize?: number;
}

export type RepairMode = 'leaks' | 'all';

export interface CheckOptions {
  repair?: RepairMode;
}

export interface WriteOptions {
  /** Force unit access: durable when the write resolves. */
  fua?: boolean;
}

export interface ZeroOptions {
  /** The driver may deallocate the range rather than keep it allocated (QEMU's BDRV_REQ_MAY_UNMAP). */
  mayUnmap?: boolean;
}

export interface CreateOptions {
  /** The virtual size asked for, in bytes. A format rounds it up to what it can hold (Bochs: 512). */
  virtualSize: number;
  /** Format options for creation (`-o key=value`), e.g. Bochs's `extent_size`. */
  options: Readonly<Record<string, string>>;
  /**
   * The new image's file name as the caller gave it, when there is one: a format that names
   * itself inside the image uses its last component (a VMDK descriptor's extent line, as
   * qemu-img writes it).
   */
  filename?: string;
  /**
   * The base of a new overlay (`vdisk create -b BASE`), opened read-only by the caller, for
   * a format that records its parent's name and identity in the image (a differencing VHD:
   * the parent's unique id, time stamp and locators). A format that names its base by an
   * option only (a Bochs redolog) needs none of it.
   */
  backing?: CreateBacking;
}

/** A new overlay's base, as `CreateOptions.backing` gives it. */
export interface CreateBacking {
  /** The base, open read-only; the caller closes it after `create`. */
  readonly device: BlockDevice;
  /** The name the new image should record: relative to the new image's directory, or absolute. */
  readonly filename: string;
  /** The base's absolute name, when the caller has one (a VHD's absolute parent locator). */
  readonly fullFilename?: string;
}

export interface DriverOpenOptions {
  /** Open for writing. A read-only driver refuses with `ReadOnlyError` before reading a byte. */
  readonly writable: boolean;
  /** Format options (`-o key=value`). A driver rejects keys it does not know. */
  readonly options: Readonly<Record<string, string>>;
  /** The image's name as the caller gave it, when there is one: a format may name its parent after it (Bochs). */
  readonly filename?: string;
  /**
   * True when core chose this driver by probing rather than by name. A driver must then not
   * follow a parent that only the file's name implies (Bochs sparse layers): a file's bytes
   * must not pull in another file by surprise, the hazard class of CVE-2008-2004.
   */
  readonly probed?: boolean;
}

/**
 * The parent an image names: its backing file (QEMU's backing_file, Bochs's redolog base and
 * sparse layers, VHD's parent). Core opens it, read-only, through the opener the caller gave
 * `Registry.open` (`openFile` gives one that resolves names against the image's directory),
 * and then reads of what the image does not hold come from it.
 */
export interface BackingReference {
  /** The parent's name as the image gives it: relative names are relative to the image's directory. */
  filename: string;
  /** The parent's format, when the image (or an option) names it; probed otherwise, and a raw guess is warned about. */
  format?: string;
  /** Open options for the parent's driver. */
  options?: Readonly<Record<string, string>>;
  /** The parent is used only when it exists (Bochs sparse layers); otherwise a missing parent is an error. */
  ifExists?: boolean;
  /**
   * The name is the user's, from an open option (`-o base=PATH`), not the image's: used as
   * given (relative to the working directory), not resolved against the image's directory.
   */
  asGiven?: boolean;
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
  /**
   * The image's parent, when it has one. Core opens it and reads through it: what
   * `blockStatus` reports as not allocated in this image (`data: false` without
   * `allocated`) reads from the parent, wherever the driver's own `readv` put zeros, and
   * the map gives such runs from the parent at `depth` + 1. A driver with a parent must
   * therefore have `blockStatus`. Writes never reach the parent: it is opened read-only.
   */
  readonly backing?: BackingReference;
  /**
   * Called once core has opened the parent, before the device is handed out: the place for
   * a format's coherency check against its parent (Bochs's redolog: sizes and timestamps).
   */
  backingOpened?(parent: BlockDevice): Promise<void>;
  /**
   * Called by `commitDevice` before the first byte reaches the parent, on an image opened
   * writable: a format whose header pins the parent's state (Bochs's redolog timestamp)
   * makes it neutral, durably, so that a commit interrupted and run again still opens.
   */
  beforeCommit?(): Promise<void>;
}

/** The optional capabilities a driver can have, by the name of their method. */
export const DRIVER_CAPABILITIES = [
  'blockStatus',
  'info',
  'check',
  'write',
  'flush',
  'zero',
  'discard',
  'create',
] as const;
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

/**
 * One run of the allocation map, as a driver reports it. Three kinds, after QEMU's
 * block layer: data (`data: true`); allocated in this image but reading as zeros
 * (`data: false, allocated: true`: VMDK's zeroed grain, VDI's zero block); and not
 * allocated in this image (`data: false`, no `allocated`), which reads as zeros, or as
 * the backing image's bytes where there is one. Core derives qemu-img map's `present`,
 * `zero`, `data` and `depth` from these.
 */
export interface BlockStatusRun {
  /** Virtual offset of the run. */
  offset: number;
  length: number;
  /** True when the run holds data from the image. */
  data: boolean;
  /** With `data: false`: the run is allocated in this image and reads as zeros. */
  allocated?: boolean;
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
  /** With `repair`: how many problems were fixed, by kind. */
  repaired?: { corruptions: number; leaks: number };
}
