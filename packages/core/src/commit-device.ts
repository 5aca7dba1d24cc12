import type { BlockDevice } from './block-device.js';
import { InvalidArgumentError, ReadOnlyError, throwIfAborted } from './errors.js';

export interface CommitOptions {
  /** Called after each run is written, with the bytes of the disk covered so far. */
  onProgress?(done: number, total: number): void;
  signal?: AbortSignal;
}

/** How much of the top one map query covers, and the most bytes read and written at once. */
const COMMIT_WINDOW = 64 * 1024 * 1024;
const COMMIT_CHUNK = 4 * 1024 * 1024;

/**
 * qemu-img commit's copy (and `bximage -func=commit`'s): every run `top` holds itself (its
 * data, and runs allocated as zeros) is written into `base` at the same offset, in
 * ascending order, then `base` is flushed. What the top does not hold already reads from
 * the base, so it is left alone. Before the first write, the top's `beforeCommit` runs
 * (Bochs: the redolog's timestamp becomes 0). Run again after a crash, it writes the same
 * bytes again: the base it leaves is the same.
 */
export async function commitDevice(top: BlockDevice, base: BlockDevice, options: CommitOptions = {}): Promise<void> {
  if (!base.writable) throw new ReadOnlyError('The base image is read-only');
  const total = top.virtualSize;
  // Everything the top holds must fit in the base, or the commit would drop it.
  await top.image.beforeCommit?.();
  for (let position = 0; position < total; position += COMMIT_WINDOW) {
    throwIfAborted(options.signal);
    const length = Math.min(COMMIT_WINDOW, total - position);
    for (const run of await top.blockStatus(position, length)) {
      if (!run.data && !run.allocated) continue;
      if (run.offset + run.length > base.virtualSize) {
        throw new InvalidArgumentError(
          `The base image (${base.virtualSize} bytes) is smaller than the data to commit (up to ${run.offset + run.length})`,
        );
      }
      if (!run.data) {
        await base.writeZeroes(run.offset, run.length);
        continue;
      }
      for (let at = run.offset; at < run.offset + run.length; at += COMMIT_CHUNK) {
        throwIfAborted(options.signal);
        const size = Math.min(COMMIT_CHUNK, run.offset + run.length - at);
        await base.write(at, await top.read(at, size));
      }
    }
    options.onProgress?.(position + length, total);
  }
  await base.flush();
}
