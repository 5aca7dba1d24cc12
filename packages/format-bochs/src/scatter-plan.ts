/** One positional read: a run of the file, scattered into buffers in order. */
export interface FileRun {
  position: number;
  length: number;
  buffers: Uint8Array[];
}

/**
 * The reads of one request, as few as the layout allows: a piece that starts where the
 * previous one ended joins its run. bximage writes the slots of a converted image in
 * order, so a request over consecutive extents becomes one run (bitmap, data, bitmap,
 * data, ...): one preadv where QEMU makes two system calls per sector.
 */
export class ScatterPlan {
  readonly runs: FileRun[] = [];

  /** Adds the bytes at `position` into `buffers`, in order. */
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
}
