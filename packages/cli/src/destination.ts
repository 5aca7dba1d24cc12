import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { access, chmod, chown, lstat, readlink, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { InvalidArgumentError, SystemError } from '@vdisk/core';
import { decodeFileName, FileSource, fileSystemPath as fsPath, toSystemError } from '@vdisk/core/node';
import { addTemporary, forgetTemporary } from './temporary-files.js';

/**
 * Where convert and create write (the writes issue's "Writing files safely"):
 * - `file`: a regular file, or a name where none exists yet. The output is written to a
 *   temporary file beside the real target (symlinks followed, so the link stays a link) and
 *   renamed over it only when complete, with the existing file's mode and owner.
 * - `block-device`: written in place, never truncated or replaced.
 * - `stdout`: `-`, raw bytes streamed to standard output (qemu-img would make a file named `-`).
 * Character devices, FIFOs and sockets are refused: `Not a regular file or block device`.
 */
export type Destination =
  | { kind: 'file'; name: string; path: string; existing?: Stats }
  | { kind: 'block-device'; name: string; path: string; existing: Stats }
  | { kind: 'stdout'; name: '-' };

/** Linux's limit of symlinks followed in one lookup (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

/**
 * Looks at DST before the source is read: a directory, a missing directory, a name too long,
 * a FIFO fail at once, with the operating system's words and DST as the user typed it.
 */
export async function inspectDestination(name: string): Promise<Destination> {
  if (name === '-') return { kind: 'stdout', name };
  // QEMU's words, as for a source; resolve('') would be the current directory.
  if (name === '') throw new InvalidArgumentError("Could not open '': The 'file' block driver requires a file name");
  try {
    const { path, existing } = await followSymlinks(resolve(name));
    if (!existing) {
      const parent = await stat(fsPath(dirname(path)));
      if (!parent.isDirectory()) throw Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR' });
      await access(fsPath(dirname(path)), constants.W_OK);
      return { kind: 'file', name, path };
    }
    if (existing.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    if (existing.isBlockDevice()) return { kind: 'block-device', name, path, existing };
    if (!existing.isFile()) throw new SystemError('Not a regular file or block device', undefined, { filename: name });
    await access(fsPath(dirname(path)), constants.W_OK);
    return { kind: 'file', name, path, existing };
  } catch (error) {
    throw error instanceof SystemError ? error : toSystemError(error, name);
  }
}

/** The path a write through `path` lands on, and what is there now (undefined: nothing yet). */
async function followSymlinks(start: string): Promise<{ path: string; existing?: Stats }> {
  let path = start;
  for (let hops = 0; ; hops++) {
    let entry: Stats;
    try {
      entry = await lstat(fsPath(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path };
      throw error;
    }
    // Paths go to fs as bytes and come back as bytes: a name that is not UTF-8 stays itself.
    if (!entry.isSymbolicLink()) {
      return { path: decodeFileName(await realpath(fsPath(path), { encoding: 'buffer' })), existing: entry };
    }
    if (hops >= MAX_SYMLINKS) throw Object.assign(new Error('ELOOP'), { code: 'ELOOP' });
    // A dangling link is written through, as open(O_CREAT) would: its target is created.
    path = resolve(dirname(path), decodeFileName(await readlink(fsPath(path), { encoding: 'buffer' })));
  }
}

/** Refuses a destination that is the source itself, by name, symlink or hard link. */
export async function refuseToOverwriteSource(source: string, destination: Destination): Promise<void> {
  if (destination.kind === 'stdout' || !destination.existing) return;
  const from = await stat(fsPath(source));
  if (from.dev === destination.existing.dev && from.ino === destination.existing.ino) {
    throw new InvalidArgumentError('Refusing to overwrite the source image', { filename: destination.name });
  }
}

/** The most bytes of the target's name kept in the temporary file's: NAME_MAX is 255. */
const NAME_BYTES_KEPT = 200;

/**
 * An output file being written: a new file beside the target, mode 0600 (never wider)
 * while it is written, registered so that no interruption leaves it behind. `commit` gives
 * it its final mode and owner and renames it over the target; `abandon` removes it.
 */
export class PendingFile {
  readonly destination: Extract<Destination, { kind: 'file' }>;
  /** The temporary file's path. */
  readonly path: string;
  /** The temporary file, open for writing: an image is created and opened on it. */
  readonly source: FileSource;
  #done = false;

  private constructor(destination: Extract<Destination, { kind: 'file' }>, path: string, source: FileSource) {
    this.destination = destination;
    this.path = path;
    this.source = source;
  }

  static async create(destination: Extract<Destination, { kind: 'file' }>): Promise<PendingFile> {
    const path = `${dirname(destination.path)}/.${truncateName(basename(destination.path))}.${randomBytes(6).toString('hex')}.vdisk-tmp`;
    let source: FileSource;
    try {
      source = await FileSource.create(path, { mode: 0o600 });
    } catch (error) {
      if (error instanceof SystemError) error.filename = destination.name;
      throw error;
    }
    addTemporary(path);
    return new PendingFile(destination, path, source);
  }

  /**
   * Gives the file the mode and owner of the file it replaces (qemu-img writes in place, so
   * they stay), or a new file's usual mode (0644 less the umask, as qemu-img creates files),
   * and renames it into place. The caller has closed the source. No fsync: the rename is
   * what makes the output appear whole, and a new image needs no barrier before it (a crash
   * leaves the temporary file, never a half-written target).
   */
  async commit(): Promise<void> {
    const { existing, path: target, name } = this.destination;
    try {
      if (existing) {
        // The owner first: chown clears the set-user-ID and set-group-ID bits that chmod then sets.
        await chown(fsPath(this.path), existing.uid, existing.gid).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== 'EPERM') throw error;
          // Not root: keep at least the group when the user is in it; otherwise the file is ours.
          await chown(fsPath(this.path), -1, existing.gid).catch(() => {});
        });
        await chmod(fsPath(this.path), existing.mode & 0o7777);
      } else {
        await chmod(fsPath(this.path), 0o644 & ~process.umask());
      }
      await rename(fsPath(this.path), fsPath(target));
    } catch (error) {
      await this.abandon();
      throw toSystemError(error, name);
    }
    this.#done = true;
    forgetTemporary(this.path);
  }

  /** Closes and removes the temporary file. Idempotent; after `commit`, does nothing. */
  async abandon(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.source.close().catch(() => {});
    await unlink(fsPath(this.path)).catch(() => {});
    forgetTemporary(this.path);
  }
}

/** The name cut to NAME_BYTES_KEPT bytes of UTF-8, on a character boundary. */
function truncateName(name: string): string {
  if (Buffer.byteLength(name) <= NAME_BYTES_KEPT) return name;
  let kept = '';
  for (const character of name) {
    if (Buffer.byteLength(kept + character) > NAME_BYTES_KEPT) break;
    kept += character;
  }
  return kept;
}
