import type { NbdDevice } from './nbd-device.js';

/** NBD_INFO_BLOCK_SIZE: the constraints a client must follow. */
export interface BlockSizes {
  minimum: number;
  preferred: number;
  maximum: number;
}

/** 32 MiB: what qemu-nbd and nbdkit advertise, and what every client copes with. */
export const DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;

const MAX_MINIMUM = 64 * 1024;

function isPowerOfTwo(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0 && (value & (value - 1)) === 0;
}

/**
 * The sizes advertised for a device. The minimum is the driver's alignment (a power of two
 * up to 64 KiB, as the protocol allows; otherwise 1, since core pads any request); the
 * preferred size at least 4096 (qemu-nbd's), so that clients avoid core's read-modify-write.
 */
export function blockSizesOf(device: NbdDevice, maxPayload: number): BlockSizes {
  const alignment = device.requestAlignment;
  const minimum = isPowerOfTwo(alignment) && alignment <= MAX_MINIMUM ? alignment : 1;
  const preferred = Math.max(4096, minimum);
  return { minimum, preferred, maximum: Math.max(maxPayload, preferred) };
}
