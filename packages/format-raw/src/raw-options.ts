import { InvalidArgumentError, parseSize } from '@vdisk/core';

/** The part of the file that is the virtual disk. */
export interface RawWindow {
  offset: number;
  size: number;
  /** Whether `offset` or `size` was given (then `info` reports them, as qemu-img does). */
  explicit: boolean;
}

/** A QEMU size option (`offset=1M`): exact bytes, with core's parseSize, or QEMU's message. */
function parseByteCount(key: string, text: string): number {
  try {
    return parseSize(text);
  } catch {
    throw new InvalidArgumentError(`Parameter '${key}' expects a non-negative number below 2^53`);
  }
}

/**
 * QEMU's raw `offset` and `size` options, with raw_apply_options' checks and messages
 * in its order (the double space in the second message is QEMU's).
 */
export function parseRawOptions(options: Readonly<Record<string, string>>, realSize: number): RawWindow {
  for (const key of Object.keys(options)) {
    if (key !== 'offset' && key !== 'size') {
      // QEMU's words for an option the format does not have (block.c)
      throw new InvalidArgumentError(`Block format 'raw' does not support the option '${key}'`);
    }
  }
  const offset = options.offset === undefined ? 0 : parseByteCount('offset', options.offset);
  const size = options.size === undefined ? undefined : parseByteCount('size', options.size);
  if (offset > realSize) {
    throw new InvalidArgumentError(
      `Offset (${offset}) cannot be greater than size of the containing file (${realSize})`,
    );
  }
  if (size !== undefined && realSize - offset < size) {
    throw new InvalidArgumentError(
      `The sum of offset (${offset}) and size (${size}) has to be smaller or equal to the  actual size of the containing file (${realSize})`,
    );
  }
  // Keeps rounding from leaking past the window, QEMU says.
  if (size !== undefined && size % 512 !== 0) {
    throw new InvalidArgumentError('Specified size is not multiple of 512');
  }
  return { offset, size: size ?? realSize - offset, explicit: options.offset !== undefined || size !== undefined };
}
