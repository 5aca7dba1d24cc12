import { type FileHandle, open } from 'node:fs/promises';
import type { AllocatedSizeSource } from '../byte-source.js';
import { assertExactRange } from '../exact-offset.js';
import { toSystemError } from './system-error.js';

export interface FileSourceOptions {
  /** Open the file for writing too. Reading an image never needs it. */
  writable?: boolean;
}

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

  /** Opens `path`; rejects with a `SystemError` in the OS's words (`No such file or directory`). */
  static async open(path: string, options: FileSourceOptions = {}): Promise<FileSource> {
    let handle: FileHandle;
    try {
      handle = await open(path, options.writable ? 'r+' : 'r');
    } catch (error) {
      throw toSystemError(error, path);
    }
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
      return new FileSource(path, handle, stat.size);
    } catch (error) {
      await handle.close().catch(() => {});
      throw toSystemError(error, path);
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
