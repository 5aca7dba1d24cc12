import { SystemError } from '../errors.js';

/** strerror(3)'s words for the errors users meet, as qemu-img prints them. */
const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  EIO: 'Input/output error',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EEXIST: 'File exists',
  EBUSY: 'Device or resource busy',
  EINVAL: 'Invalid argument',
  EFBIG: 'File too large',
  ENXIO: 'No such device or address',
  EXDEV: 'Invalid cross-device link',
};

/** Turns a Node fs error into a `SystemError` carrying the operating system's words. */
export function toSystemError(error: unknown, filename?: string): SystemError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  let message = code ? STRERROR[code] : undefined;
  if (!message) {
    // libuv's own text ("ENOSPC: no space left on device, write") without the code and syscall
    const text = error instanceof Error ? error.message : String(error);
    const match = /^[A-Z0-9_]+: ([^,]+)/.exec(text);
    const words = match?.[1] ?? text;
    message = words.charAt(0).toUpperCase() + words.slice(1);
  }
  return new SystemError(message, code, { cause: error, filename });
}
