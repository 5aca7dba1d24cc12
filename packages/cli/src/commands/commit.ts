import { constants } from 'node:fs';
import { access, copyFile, link, open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { commitDevice, InvalidArgumentError, isVdiskError } from '@vdisk/core';
import { openFile, toSystemError } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { printWarning } from '../warnings.js';

export interface CommitOptions {
  format?: string;
  options?: Record<string, string>;
  /** bximage's -b: keep the base as it was in BASE.orig, and the overlay as FILE.orig. */
  backup?: boolean;
  signal?: AbortSignal;
}

/**
 * `vdisk commit [-f FMT] [-o ..] [-b] FILE`: qemu-img commit's verb with bximage commit's
 * result. Every sector the overlay holds is written into its base (core's commitDevice),
 * the base is flushed, and the overlay is removed (with `-b`, renamed to FILE.orig, after
 * the base was copied to BASE.orig).
 *
 * Crash-safe: before the base is touched the overlay is made to open again whatever the
 * base's mtime becomes (Bochs: its timestamp is set to 0, durably), so an interrupted commit
 * runs again and gives the same base. A backup is written whole to a temporary file and
 * linked into place, never over an existing BASE.orig: a rerun keeps the first run's backup.
 */
export async function commitCommand(filename: string, opts: CommitOptions): Promise<number> {
  const registry = defaultRegistry();
  const top = await openFile(registry, filename, {
    format: opts.format,
    options: opts.options,
    writable: true,
    onWarning: printWarning,
  });
  try {
    const backing = top.backing;
    if (!backing) throw new InvalidArgumentError('Image does not have a backing file', { filename });
    const baseName = backing.fullFilename;
    if (opts.backup) await backupFile(baseName, `${baseName}.orig`);
    const base = await openFile(registry, baseName, { format: backing.device.format, writable: true });
    try {
      await commitDevice(top, base, { signal: opts.signal });
    } catch (error) {
      if (isVdiskError(error) && error.filename === undefined) error.filename = baseName;
      throw error;
    } finally {
      await base.close();
    }
  } finally {
    await top.close();
  }
  try {
    if (opts.backup) await rename(filename, `${filename}.orig`);
    else await unlink(filename);
  } catch (error) {
    throw toSystemError(error, filename);
  }
  process.stdout.write('Image committed.\n');
  return 0;
}

/** Copies `from` to `to` whole and durably, or keeps `to` when it exists: never a half copy under its name. */
async function backupFile(from: string, to: string): Promise<void> {
  if (
    await access(to).then(
      () => true,
      () => false,
    )
  )
    return;
  const temporary = join(dirname(to), `.${to.slice(dirname(to).length + 1)}.vdisk-${process.pid}-${Date.now()}`);
  try {
    await copyFile(from, temporary, constants.COPYFILE_EXCL);
    const handle = await open(temporary, 'r+');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
    // link() fails with EEXIST instead of replacing: an existing backup stays.
    await link(temporary, to).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  } catch (error) {
    throw toSystemError(error, to);
  } finally {
    await unlink(temporary).catch(() => {});
  }
}
