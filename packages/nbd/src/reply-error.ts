import { isVdiskError } from '@vdisk/core';
import { NBD_EINVAL, NBD_EIO, NBD_ENOMEM, NBD_ENOSPC, NBD_EOVERFLOW, NBD_EPERM } from './protocol.js';

/** The NBD error value a device's failure becomes, after qemu-nbd's errno mapping (nbd/server.c's system_errno_to_nbd_errno). */
export function nbdErrorOf(error: unknown): number {
  if (isVdiskError(error)) {
    switch (error.code) {
      case 'EROFS':
      case 'EPERM': // a guessed raw image's first sector (CVE-2008-2004's guard)
        return NBD_EPERM;
      case 'ERANGE':
      case 'EINVAL':
        return NBD_EINVAL;
      case 'EOVERFLOW':
        return NBD_EOVERFLOW;
      case 'EIO': {
        const syscall = (error as { syscallCode?: string }).syscallCode;
        if (syscall === 'ENOSPC' || syscall === 'EDQUOT' || syscall === 'EFBIG') return NBD_ENOSPC;
        if (syscall === 'EPERM' || syscall === 'EACCES' || syscall === 'EROFS') return NBD_EPERM;
        if (syscall === 'ENOMEM') return NBD_ENOMEM;
        return NBD_EIO;
      }
      default:
        return NBD_EIO;
    }
  }
  if (error instanceof RangeError) return NBD_ENOMEM; // an allocation the engine refused
  return NBD_EIO;
}

/** A one-line message for the ERROR chunk of a structured reply. */
export function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]?.slice(0, 1000) ?? '';
}

/** A request the server refuses before it reaches the device, with the error the protocol names. */
export class RequestError extends Error {
  override name = 'RequestError';
  readonly nbdError: number;
  constructor(nbdError: number, message: string) {
    super(message);
    this.nbdError = nbdError;
  }
}

export function invalid(message: string): RequestError {
  return new RequestError(NBD_EINVAL, message);
}
