import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { AllocatedSizeSource } from '../byte-source.js';
import { InvalidArgumentError, isVdiskError, SystemError } from '../errors.js';
import { assertExactRange } from '../exact-offset.js';
import { fileSystemPath } from './file-name.js';
import { toSystemError } from './system-error.js';

export interface FileSourceOptions {
  /** Open the file for writing too. Reading an image never needs it. */
  writable?: boolean;
}

/** Linux's IOV_MAX: the most buffers one preadv takes. */
const IOV_MAX = 1024;

/** A byte source over a file, on `node:fs/promises`. */
export class FileSource implements AllocatedSizeSource {
  readonly path: string;
  readonly #handle: FileHandle;
  readonly #size: number;
  #closed = false;

  private constructor(path: string, handle: FileHandle, size: number) {
    this.path = path;
    this.#handle = handle;
    this.#size = size;
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
    let handle: FileHandle;
    try {
      // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever. It changes
      // nothing for regular files.
      handle = await open(
        fileSystemPath(path),
        (options.writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK,
      );
    } catch (error) {
      throw toSystemError(error, path);
    }
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
      if (stat.isFIFO() || stat.isSocket()) throw new SystemError('Not a regular file', undefined, { filename: path });
      return new FileSource(path, handle, stat.size);
    } catch (error) {
      await handle.close().catch(() => {});
      throw isVdiskError(error) ? error : toSystemError(error, path);
    }
  }

  get size(): number {
    return this.#size;
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    assertExactRange(position, buffer.length, 'Source read');
    // Past the size seen at open, the source reads zeros, as QEMU's block layer does.
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

  async allocatedSize(): Promise<number> {
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
}
