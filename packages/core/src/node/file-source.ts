import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { AllocatedSizeSource, ModifiedTimeSource } from '../byte-source.js';
import { InvalidArgumentError, isVdiskError, ReadOnlyError, SystemError, VdiskError } from '../errors.js';
import { assertExactRange } from '../exact-offset.js';
import { blockDeviceSize } from './block-device-size.js';
import { fileSystemPath } from './file-name.js';
import { toSystemError } from './system-error.js';

export interface FileSourceOptions {
  /** Open the file for writing too (O_RDWR). Reading an image never needs it. */
  writable?: boolean;
}

export interface FileCreateOptions {
  /** The new file's permissions, before the umask. Default 0o600: an image may hold anything. */
  mode?: number;
}

/** Linux's IOV_MAX: the most buffers one preadv or pwritev takes. */
const IOV_MAX = 1024;

/**
 * A byte source over a file or a block device, on `node:fs/promises`. Opened writable, it
 * writes positionally (pwrite, pwritev), flushes with fdatasync, and its size grows with
 * writes past the end.
 */
export class FileSource implements AllocatedSizeSource, ModifiedTimeSource {
  readonly path: string;
  /** Opened for writing; a read-only source rejects writes with `ReadOnlyError`. */
  readonly writable: boolean;
  readonly #handle: FileHandle;
  #size: number;
  #closed = false;

  private constructor(path: string, handle: FileHandle, size: number, writable: boolean) {
    this.path = path;
    this.#handle = handle;
    this.#size = size;
    this.writable = writable;
  }

  /**
   * Opens `path` (a name whose non-UTF-8 bytes are escaped as `decodeFileName` does opens
   * those bytes); rejects with a `SystemError` in the OS's words (`No such file or directory`).
   */
  static async open(path: string, options: FileSourceOptions = {}): Promise<FileSource> {
    if (path === '') {
      // QEMU's words, and no file to name in front of them.
      throw new InvalidArgumentError("Could not open '': The 'file' block driver requires a file name");
    }
    const writable = options.writable ?? false;
    let handle: FileHandle;
    try {
      // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever. It changes
      // nothing for regular files.
      handle = await open(
        fileSystemPath(path),
        (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK,
      );
    } catch (error) {
      throw toSystemError(error, path);
    }
    try {
      const stat = await handle.stat({ bigint: true });
      if (stat.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
      if (stat.isFIFO() || stat.isSocket()) throw new SystemError('Not a regular file', undefined, { filename: path });
      // Node's stat gives a block device the size 0: the kernel knows its real size.
      const size = stat.isBlockDevice() ? await blockDeviceSize(stat.rdev) : Number(stat.size);
      return new FileSource(path, handle, size, writable);
    } catch (error) {
      await handle.close().catch(() => {});
      throw isVdiskError(error) ? error : toSystemError(error, path);
    }
  }

  /**
   * Creates a new file at `path` and opens it for writing (O_CREAT|O_EXCL|O_RDWR): an
   * existing file, or a symlink where the file would be, is refused (`File exists`) and
   * left alone.
   */
  static async create(path: string, options: FileCreateOptions = {}): Promise<FileSource> {
    let handle: FileHandle;
    try {
      handle = await open(
        fileSystemPath(path),
        constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | constants.O_NONBLOCK,
        options.mode ?? 0o600,
      );
    } catch (error) {
      throw toSystemError(error, path);
    }
    return new FileSource(path, handle, 0, true);
  }

  get size(): number {
    return this.#size;
  }

  /** The file's mtime now (fstat), for a redolog's coherency check against its base. */
  async modifiedTime(): Promise<Date> {
    try {
      return (await this.#handle.stat()).mtime;
    } catch (error) {
      throw toSystemError(error, this.path);
    }
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    assertExactRange(position, buffer.length, 'Source read');
    this.#checkOpen();
    // Past the size, the source reads zeros, as QEMU's block layer does.
    const wanted = Math.max(0, Math.min(buffer.length, this.#size - position));
    let done = 0;
    try {
      while (done < wanted) {
        const { bytesRead } = await this.#handle.read(buffer, done, wanted - done, position + done);
        if (bytesRead === 0) break; // the file shrank since open
        done += bytesRead;
      }
    } catch (error) {
      throw toSystemError(error, this.path);
    }
    if (done < buffer.length) buffer.fill(0, done);
  }

  /**
   * One preadv per run of at most IOV_MAX buffers (Linux's 1024, which libuv caps at
   * without saying so), so a driver scatters one run of the file into many buffers with
   * one system call. Short reads continue where they stopped; past the size seen at open
   * the buffers are zero-filled, as `read` does.
   */
  async readv(buffers: readonly Uint8Array[], position: number): Promise<void> {
    let total = 0;
    for (const buffer of buffers) total += buffer.length;
    assertExactRange(position, total, 'Source read');
    this.#checkOpen();
    const wanted = Math.max(0, Math.min(total, this.#size - position));
    let done = 0;
    let index = 0; // the buffer where `done` falls
    let within = 0; // and how far into it
    try {
      while (done < wanted) {
        const batch: Uint8Array[] = [];
        let batchBytes = 0;
        for (let i = index; i < buffers.length && batch.length < IOV_MAX && done + batchBytes < wanted; i++) {
          const buffer = buffers[i] as Uint8Array;
          const start = i === index ? within : 0;
          const length = Math.min(buffer.length - start, wanted - done - batchBytes);
          batch.push(start === 0 && length === buffer.length ? buffer : buffer.subarray(start, start + length));
          batchBytes += length;
        }
        const { bytesRead } = await this.#handle.readv(batch, position + done);
        if (bytesRead === 0) break; // the file shrank since open
        done += bytesRead;
        within += bytesRead;
        while (index < buffers.length && within >= (buffers[index] as Uint8Array).length) {
          within -= (buffers[index] as Uint8Array).length;
          index++;
        }
      }
    } catch (error) {
      throw toSystemError(error, this.path);
    }
    // Zero what was not read: the rest of the buffer where reading stopped, and all after it.
    for (let i = index; i < buffers.length; i++) (buffers[i] as Uint8Array).fill(0, i === index ? within : 0);
  }

  /** pwrite, continued after a short write until every byte is written. */
  async write(buffer: Uint8Array, position: number): Promise<void> {
    assertExactRange(position, buffer.length, 'Source write');
    this.#checkWritable();
    let done = 0;
    try {
      while (done < buffer.length) {
        const { bytesWritten } = await this.#handle.write(buffer, done, buffer.length - done, position + done);
        if (bytesWritten === 0) throw new SystemError('Input/output error', 'EIO', { filename: this.path });
        done += bytesWritten;
        this.#grew(position + done);
      }
    } catch (error) {
      throw error instanceof SystemError ? error : toSystemError(error, this.path);
    }
  }

  /**
   * One pwritev per run of at most IOV_MAX buffers, continued where a short write stopped:
   * a driver writes a whole extent (bitmap and data) or a run of sectors in one system call.
   */
  async writev(buffers: readonly Uint8Array[], position: number): Promise<void> {
    let total = 0;
    for (const buffer of buffers) total += buffer.length;
    assertExactRange(position, total, 'Source write');
    this.#checkWritable();
    let done = 0;
    let index = 0; // the buffer where `done` falls
    let within = 0; // and how far into it
    try {
      while (done < total) {
        while (index < buffers.length && within >= (buffers[index] as Uint8Array).length) {
          within -= (buffers[index] as Uint8Array).length;
          index++;
        }
        const batch: Uint8Array[] = [];
        for (let i = index; i < buffers.length && batch.length < IOV_MAX; i++) {
          const buffer = buffers[i] as Uint8Array;
          if (buffer.length === 0) continue;
          batch.push(i === index && within > 0 ? buffer.subarray(within) : buffer);
        }
        const { bytesWritten } = await this.#handle.writev(batch, position + done);
        if (bytesWritten === 0) throw new SystemError('Input/output error', 'EIO', { filename: this.path });
        done += bytesWritten;
        within += bytesWritten;
        this.#grew(position + done);
      }
    } catch (error) {
      throw error instanceof SystemError ? error : toSystemError(error, this.path);
    }
  }

  /** fdatasync: every completed write is durable when it resolves. */
  async flush(): Promise<void> {
    this.#checkWritable();
    try {
      await this.#handle.datasync();
    } catch (error) {
      throw toSystemError(error, this.path);
    }
  }

  /** ftruncate: cuts the file, or extends it with zeros (a hole). */
  async truncate(size: number): Promise<void> {
    assertExactRange(0, size, 'Truncate');
    this.#checkWritable();
    try {
      await this.#handle.truncate(size);
    } catch (error) {
      throw toSystemError(error, this.path);
    }
    this.#size = size;
  }

  async allocatedSize(): Promise<number> {
    this.#checkOpen();
    try {
      const stat = await this.#handle.stat();
      return stat.blocks * 512;
    } catch (error) {
      throw toSystemError(error, this.path);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }

  #grew(end: number): void {
    if (end > this.#size) this.#size = end;
  }

  #checkOpen(): void {
    if (this.#closed) throw new VdiskError('EINVAL', 'The file is closed', { filename: this.path });
  }

  #checkWritable(): void {
    this.#checkOpen();
    if (!this.writable) throw new ReadOnlyError('The file is open read-only', { filename: this.path });
  }
}
