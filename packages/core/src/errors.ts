/**
 * Typed errors. Every failure that vdisk expects (a bad image, a missing file, a read
 * out of range) is a `VdiskError` with a stable `code`; anything else is a bug. Only the
 * CLI turns these into `vdisk: FILE: MESSAGE` lines.
 */

export type VdiskErrorCode =
  /** The bytes are not a valid image of the format (QEMU's -EINVAL at open). */
  | 'EFORMAT'
  /** No registered driver recognised the file, or a named format is unknown. */
  | 'ENOFORMAT'
  /** A request falls outside the virtual disk. */
  | 'ERANGE'
  /** An offset or size cannot be represented exactly as a JavaScript number (past 2^53). */
  | 'EOVERFLOW'
  /** The image cannot be opened or changed for writing. */
  | 'EROFS'
  /**
   * The operation is refused on purpose (QEMU's -EPERM): a write that would make a raw
   * image guessed by probing look like another format.
   */
  | 'EPERM'
  /** A bad option or argument from the caller, or a call on a closed image. */
  | 'EINVAL'
  /** The operating system refused an operation on the file (missing, permissions...). */
  | 'EIO'
  /** The operation was cancelled through an AbortSignal. */
  | 'EABORT'
  /** A driver broke the block driver contract. */
  | 'EDRIVER';

export interface VdiskErrorOptions {
  cause?: unknown;
  /** The path or name of the file concerned, as the user gave it. */
  filename?: string;
}

/**
 * The brand every VdiskError carries, under a global symbol: two copies of @vdisk/core (the
 * CLI's bundled one and a plugin's own) make two VdiskError classes, so `instanceof` fails
 * across them, but `Symbol.for` gives both the same key.
 */
const VDISK_ERROR: unique symbol = Symbol.for('vdisk.error') as never;

export class VdiskError extends Error {
  override name = 'VdiskError';
  readonly code: VdiskErrorCode;
  filename: string | undefined;
  readonly [VDISK_ERROR] = true;

  constructor(code: VdiskErrorCode, message: string, options: VdiskErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.filename = options.filename;
  }
}

/** The image's bytes break the format's rules. The message is QEMU's where QEMU has one. */
export class ImageFormatError extends VdiskError {
  override name = 'ImageFormatError';
  constructor(message: string, options?: VdiskErrorOptions) {
    super('EFORMAT', message, options);
  }
}

export class UnknownFormatError extends VdiskError {
  override name = 'UnknownFormatError';
  constructor(message: string, options?: VdiskErrorOptions) {
    super('ENOFORMAT', message, options);
  }
}

export class OutOfRangeError extends VdiskError {
  override name = 'OutOfRangeError';
  constructor(message: string, options?: VdiskErrorOptions) {
    super('ERANGE', message, options);
  }
}

export class UnsafeOffsetError extends VdiskError {
  override name = 'UnsafeOffsetError';
  constructor(message: string, options?: VdiskErrorOptions) {
    super('EOVERFLOW', message, options);
  }
}

export class ReadOnlyError extends VdiskError {
  override name = 'ReadOnlyError';
  constructor(message = 'Image is read-only', options?: VdiskErrorOptions) {
    super('EROFS', message, options);
  }
}

export class InvalidArgumentError extends VdiskError {
  override name = 'InvalidArgumentError';
  constructor(message: string, options?: VdiskErrorOptions) {
    super('EINVAL', message, options);
  }
}

/** An operating-system error. `message` is the strerror(3) text, e.g. `No such file or directory`. */
export class SystemError extends VdiskError {
  override name = 'SystemError';
  /** The errno name, e.g. `ENOENT`. */
  readonly syscallCode: string | undefined;
  constructor(message: string, syscallCode?: string, options?: VdiskErrorOptions) {
    super('EIO', message, options);
    this.syscallCode = syscallCode;
  }
}

export class AbortedError extends VdiskError {
  override name = 'AbortedError';
  constructor(message = 'Operation aborted', options?: VdiskErrorOptions) {
    super('EABORT', message, options);
  }
}

export class DriverContractError extends VdiskError {
  override name = 'DriverContractError';
  constructor(message: string, options?: VdiskErrorOptions) {
    super('EDRIVER', message, options);
  }
}

/**
 * Whether `error` is a VdiskError from any copy of @vdisk/core: it carries the
 * `Symbol.for('vdisk.error')` brand and a string `code` and `message`. Use it rather than
 * `instanceof`, which only knows the copy it was imported from.
 */
export function isVdiskError(error: unknown): error is VdiskError {
  if (typeof error !== 'object' || error === null) return false;
  const branded = error as { [VDISK_ERROR]?: unknown; code?: unknown; message?: unknown };
  // Any string code: a plugin built on a later core may know codes this copy does not.
  return branded[VDISK_ERROR] === true && typeof branded.message === 'string' && typeof branded.code === 'string';
}

/** Whether `error` is a VdiskError (from any copy of core) with this code. */
export function hasErrorCode(error: unknown, code: VdiskErrorCode): error is VdiskError {
  return isVdiskError(error) && error.code === code;
}

/** Throws AbortedError when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError();
}
