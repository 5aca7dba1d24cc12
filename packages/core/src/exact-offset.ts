import { UnsafeOffsetError } from './errors.js';

/**
 * Offsets in vdisk are JavaScript numbers, exact up to 2^53. Anything a format computes
 * from header fields (which are 64-bit in many formats) goes through here, so that an
 * offset that cannot be held exactly is an error and never a silently rounded read.
 */
export function exactOffset(value: bigint, what = 'Offset'): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UnsafeOffsetError(`${what} ${value} is beyond 2^53 and cannot be handled exactly`);
  }
  return Number(value);
}

/** Checks that `offset + length` is an exact, non-negative range of integers. */
export function assertExactRange(offset: number, length: number, what = 'Request'): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new UnsafeOffsetError(
      `${what} at offset ${offset} of length ${length} is not a range of exact non-negative integers`,
    );
  }
  if (!Number.isSafeInteger(offset + length)) {
    throw new UnsafeOffsetError(
      `${what} at offset ${offset} of length ${length} ends beyond 2^53 and cannot be handled exactly`,
    );
  }
}
