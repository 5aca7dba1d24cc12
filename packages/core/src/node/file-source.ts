import {
  type BigIntStats,
  close,
  constants,
  fdatasync,
  fstat,
  ftruncate,
  open,
  read,
  readv,
  type Stats,
  write,
  writev,
} from 'node:fs';
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

/** A callback of `node:fs`. */
type Callback<T> = (error: NodeJS.ErrnoException | null, value?: T) => void;

/** One `node:fs` callback call as a promise. */
function call<T>(start: (callback: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value as T))));
}

/**
 * A byte source over a file or a block device, on a file descriptor and `node:fs`'s
 * callback calls. Opened writable, it writes positionally (pwrite, pwritev), flushes with
 * fdatasync, and its size grows with writes past the end.
 *
 * Not `node:fs/promises`' FileHandle: on Node 20 its per-call bookkeeping costs the main
 * thread about twice what the callback call does, and at queue depth 16 that, not the
 * disk, was the limit of random 4 KiB reads (scripts/bench/random-reads.mjs). What the
 * FileHandle gave, `close` waiting for the calls in flight, is kept here.
 */
export class FileSource implements AllocatedSizeSource, ModifiedTimeSource {
  readonly path: string;
  /** Opened for writing; a read-only source rejects writes with `ReadOnlyError`. */
  readonly writable: boolean;
  readonly #fd: number;
  #size: number;
  #closed = false;
  /** Operations in flight on the descriptor: `close` waits for them, as a FileHandle's does. */
  #pending = 0;
  #idle: (() => void) | undefined;

  private constructor(path: string, fd: number, size: number, writable: boolean) {
    this.path = path;
    this.#fd = fd;
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
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever. It changes
      // nothing for regular files.
      fd = await call<number>((done) =>
        open(fileSystemPath(path), (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK, done),
      );
    } catch (error) {
      throw toSystemError(error, path);
    }
    try {
      const stat = await call<BigIntStats>((done) => fstat(fd, { bigint: true }, done));
      if (stat.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
      if (stat.isFIFO() || stat.isSocket()) throw new SystemError('Not a regular file', undefined, { filename: path });
      // Node's stat gives a block device the size 0: the kernel knows its real size.
      const size = stat.isBlockDevice() ? await blockDeviceSize(stat.rdev) : Number(stat.size);
      return new FileSource(path, fd, size, writable);
    } catch (error) {
      await call((done) => close(fd, done)).catch(() => {});
      throw isVdiskError(error) ? error : toSystemError(error, path);
    }
  }

  /**
   * Creates a new file at `path` and opens it for writing (O_CREAT|O_EXCL|O_RDWR): an
   * existing file, or a symlink where the file would be, is refused (`File exists`) and
   * left alone.
   */
  static async create(path: string, options: FileCreateOptions = {}): Promise<FileSource> {
    let fd: number;
    try {
      fd = await call<number>((done) =>
        open(
          fileSystemPath(path),
          constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | constants.O_NONBLOCK,
          options.mode ?? 0o600,
          done,
        ),
      );
    } catch (error) {
      throw toSystemError(error, path);
    }
    return new FileSource(path, fd, 0, true);
  }

  get size(): number {
    return this.#size;
  }

  /** The file's mtime now (fstat), for a redolog's coherency check against its base. */
  async modifiedTime(): Promise<Date> {
    return (await this.#stat()).mtime;
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    assertExactRange(position, buffer.length, 'Source read');
    this.#begin(false);
    try {
      // Past the size, the source reads zeros, as QEMU's block layer does.
      const wanted = Math.max(0, Math.min(buffer.length, this.#size - position));
      let done = 0;
      while (done < wanted) {
        const bytesRead = await this.#call<number>((callback) =>
          read(this.#fd, buffer, done, wanted - done, position + done, callback),
        );
        if (bytesRead === 0) break; // the file shrank since open
        done += bytesRead;
      }
      if (done < buffer.length) buffer.fill(0, done);
    } finally {
      this.#end();
    }
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
    this.#begin(false);
    try {
      const wanted = Math.max(0, Math.min(total, this.#size - position));
      let done = 0;
      let index = 0; // the buffer where `done` falls
      let within = 0; // and how far into it
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
        const bytesRead = await this.#call<number>((callback) => readv(this.#fd, batch, position + done, callback));
        if (bytesRead === 0) break; // the file shrank since open
        done += bytesRead;
        within += bytesRead;
        while (index < buffers.length && within >= (buffers[index] as Uint8Array).length) {
          within -= (buffers[index] as Uint8Array).length;
          index++;
        }
      }
      // Zero what was not read: the rest of the buffer where reading stopped, and all after it.
      for (let i = index; i < buffers.length; i++) (buffers[i] as Uint8Array).fill(0, i === index ? within : 0);
    } finally {
      this.#end();
    }
  }

  /** pwrite, continued after a short write until every byte is written. */
  async write(buffer: Uint8Array, position: number): Promise<void> {
    assertExactRange(position, buffer.length, 'Source write');
    this.#begin(true);
    try {
      let done = 0;
      while (done < buffer.length) {
        const bytesWritten = await this.#call<number>((callback) =>
          write(this.#fd, buffer, done, buffer.length - done, position + done, callback),
        );
        if (bytesWritten === 0) throw new SystemError('Input/output error', 'EIO', { filename: this.path });
        done += bytesWritten;
        this.#grew(position + done);
      }
    } finally {
      this.#end();
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
    this.#begin(true);
    try {
      let done = 0;
      let index = 0; // the buffer where `done` falls
      let within = 0; // and how far into it
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
        const bytesWritten = await this.#call<number>((callback) => writev(this.#fd, batch, position + done, callback));
        if (bytesWritten === 0) throw new SystemError('Input/output error', 'EIO', { filename: this.path });
        done += bytesWritten;
        within += bytesWritten;
        this.#grew(position + done);
      }
    } finally {
      this.#end();
    }
  }

  /** fdatasync: every completed write is durable when it resolves. */
  async flush(): Promise<void> {
    this.#begin(true);
    try {
      await this.#call((callback) => fdatasync(this.#fd, callback));
    } finally {
      this.#end();
    }
  }

  /** ftruncate: cuts the file, or extends it with zeros (a hole). */
  async truncate(size: number): Promise<void> {
    assertExactRange(0, size, 'Truncate');
    this.#begin(true);
    try {
      await this.#call((callback) => ftruncate(this.#fd, size, callback));
      this.#size = size;
    } finally {
      this.#end();
    }
  }

  async allocatedSize(): Promise<number> {
    return (await this.#stat()).blocks * 512;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pending > 0) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve;
      });
    }
    await this.#call((done) => close(this.#fd, done));
  }

  /**
   * Counts an operation in flight, so that `close` waits for it, whatever number of calls
   * it makes (a short read continues, a readv of more than IOV_MAX buffers takes several):
   * the descriptor is closed only when none is running, and none starts after `close`, as
   * the number may then name another file. End it with `#end`.
   */
  #begin(writing: boolean): void {
    if (writing) this.#checkWritable();
    else this.#checkOpen();
    this.#pending++;
  }

  #end(): void {
    if (--this.#pending === 0) this.#idle?.();
  }

  /** One call on the descriptor, inside an operation; its error in the OS's words. */
  #call<T>(start: (callback: Callback<T>) => void): Promise<T> {
    return new Promise((resolve, reject) =>
      start((error, value) => (error ? reject(toSystemError(error, this.path)) : resolve(value as T))),
    );
  }

  async #stat(): Promise<Stats> {
    this.#begin(false);
    try {
      return await this.#call<Stats>((callback) => fstat(this.#fd, callback));
    } finally {
      this.#end();
    }
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
