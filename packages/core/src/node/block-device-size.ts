import { readFile } from 'node:fs/promises';
import { exactOffset } from '../exact-offset.js';

/**
 * A block device's size from the kernel (`/sys/dev/block/MAJOR:MINOR/size`, in 512-byte
 * sectors whatever the device's own sector size), since Node has no BLKGETSIZE64 ioctl
 * nor a seek to the end. 0 when the kernel does not say (no sysfs).
 */
export async function blockDeviceSize(rdev: bigint): Promise<number> {
  const { major, minor } = deviceNumbers(rdev);
  let text: string;
  try {
    text = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
  } catch {
    return 0;
  }
  const sectors = BigInt(text.trim());
  return exactOffset(sectors * 512n, 'Block device size');
}

/** glibc's gnu_dev_major and gnu_dev_minor: a dev_t as libuv's makedev built it. */
export function deviceNumbers(dev: bigint): { major: bigint; minor: bigint } {
  const major = ((dev & 0xfff00n) >> 8n) | ((dev & 0xfffff00000000000n) >> 32n);
  const minor = (dev & 0xffn) | ((dev & 0xffffff00000n) >> 12n);
  return { major, minor };
}
