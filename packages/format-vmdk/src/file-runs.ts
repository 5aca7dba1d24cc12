import { type ByteSource, writeSource } from '@vdisk/core';

/** One positional write: buffers laid end to end from `position`. */
export interface FileRun {
  position: number;
  length: number;
  buffers: Uint8Array[];
}

/**
 * The writes of one request, as few as the layout allows: a piece that starts where the
 * previous one ended joins its run (one pwritev per run, never one per sector).
 */
export class FileRuns {
  readonly runs: FileRun[] = [];

  add(position: number, buffers: readonly Uint8Array[]): void {
    let length = 0;
    for (const buffer of buffers) length += buffer.length;
    if (length === 0) return;
    const last = this.runs[this.runs.length - 1];
    if (last && last.position + last.length === position) {
      last.buffers.push(...buffers);
      last.length += length;
      return;
    }
    this.runs.push({ position, length, buffers: [...buffers] });
  }

  async write(source: ByteSource): Promise<void> {
    for (const run of this.runs) await writeSource(source, run.buffers, run.position);
  }
}

/** Views of one shared zero buffer covering `length` bytes (memory: the chunk, not the length). */
export function zeroBuffers(length: number, chunk: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let done = 0; done < length; done += chunk.length)
    out.push(chunk.subarray(0, Math.min(chunk.length, length - done)));
  return out;
}
