import type { ByteSource } from './byte-source.js';
import { readSource } from './read-source.js';
import { writeSource } from './write-source.js';

/** One positional read or write: a run of the file, buffers laid end to end from `position`. */
export interface FileRun {
  position: number;
  length: number;
  buffers: Uint8Array[];
}

/**
 * The file I/O of one request, as few system calls as the layout allows: a piece that starts
 * where the previous one ended joins its run, so a request over consecutive slots, blocks or
 * grains is one preadv or pwritev (QEMU's Bochs driver makes two system calls per sector).
 * A driver adds the pieces its map gives, then reads or writes the runs.
 */
export class FileRuns {
  readonly runs: FileRun[] = [];

  /** Adds the bytes at `position`, into or from `buffers` in order. */
  add(position: number, buffers: readonly Uint8Array[]): void {
    let length = 0;
    for (const buffer of buffers) length += buffer.length;
    if (length === 0) return;
    const last = this.runs[this.runs.length - 1];
    if (last && last.position + last.length === position) {
      for (const buffer of buffers) last.buffers.push(buffer);
      last.length += length;
      return;
    }
    this.runs.push({ position, length, buffers: [...buffers] });
  }

  /** Fills the buffers from `source`, one readv per run. */
  async read(source: ByteSource): Promise<void> {
    for (const run of this.runs) await readSource(source, run.buffers, run.position);
  }

  /** Writes the buffers to `source`, one writev per run. */
  async write(source: ByteSource): Promise<void> {
    for (const run of this.runs) await writeSource(source, run.buffers, run.position);
  }
}

/** Views of one shared zero buffer covering `length` bytes (memory: the chunk, never the length). */
export function zeroBuffers(length: number, chunk: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let done = 0; done < length; done += chunk.length) {
    out.push(chunk.subarray(0, Math.min(chunk.length, length - done)));
  }
  return out;
}
