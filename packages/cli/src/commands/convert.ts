import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type BlockDevice, dataRanges, InvalidArgumentError, isVdiskError, throwIfAborted } from '@vdisk/core';
import { openFile, toSystemError } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { type Progress, startProgress } from '../progress.js';

export interface ConvertOptions {
  format?: string;
  options?: Record<string, string>;
  outputFormat: string;
  progress: boolean;
  signal?: AbortSignal;
}

/** Bytes read and written per step. Two such buffers are in use at once: peak memory stays small. */
const CHUNK_SIZE = 4 * 1024 * 1024;
/** Zero blocks of this size in data are not written either, as qemu-img convert's default `-S 4k`. */
const ZERO_BLOCK = 4096;
const ZEROS = Buffer.alloc(ZERO_BLOCK);

/**
 * `vdisk convert -O raw SRC DST`: writes the whole virtual disk as a sparse raw file.
 * Holes (unallocated runs, and 4 KiB blocks of zeros) are not written. The output is
 * written to a temporary file beside DST and renamed over it only when complete, so a
 * failed or interrupted convert leaves nothing under DST's name.
 */
export async function convertCommand(src: string, dst: string, opts: ConvertOptions): Promise<number> {
  if (opts.outputFormat !== 'raw') {
    throw new InvalidArgumentError(`Unknown output format '${opts.outputFormat}': vdisk writes raw images only`);
  }
  const device = await openFile(defaultRegistry(), src, { format: opts.format, options: opts.options });
  try {
    await refuseToOverwriteSource(src, dst);
    const temporary = join(dirname(dst), `.${basename(dst)}.${randomBytes(6).toString('hex')}.vdisk-tmp`);
    let out: FileHandle;
    try {
      out = await open(temporary, 'wx', 0o644);
    } catch (error) {
      throw toSystemError(error, dst);
    }
    const progress = opts.progress ? startProgress(device.virtualSize) : undefined;
    try {
      await copySparse(device, out, progress, opts.signal);
      // No fsync, as qemu-img convert makes none (strace shows no fsync or fdatasync with
      // its default cache mode): flushing 1 GiB to the disk costs more than the whole
      // conversion. The rename still means that DST is either absent or complete for
      // every reader; only a power cut can lose what the page cache held.
      await out.close();
      await rename(temporary, dst);
    } catch (error) {
      await out.close().catch(() => {});
      await unlink(temporary).catch(() => {});
      throw isVdiskError(error) ? error : toSystemError(error, dst);
    } finally {
      progress?.stop();
    }
  } finally {
    await device.close();
  }
  return 0;
}

async function refuseToOverwriteSource(src: string, dst: string): Promise<void> {
  const [a, b] = await Promise.all([stat(src), stat(dst).catch(() => undefined)]);
  if (b && a.dev === b.dev && a.ino === b.ino) {
    throw new InvalidArgumentError('Refusing to overwrite the source image', { filename: dst });
  }
}

async function copySparse(
  device: BlockDevice,
  out: FileHandle,
  progress?: Progress,
  signal?: AbortSignal,
): Promise<void> {
  await out.truncate(device.virtualSize);
  const buffers = [Buffer.allocUnsafe(CHUNK_SIZE), Buffer.allocUnsafe(CHUNK_SIZE)];
  let turn = 0;
  let pendingWrite: Promise<void> = Promise.resolve();
  // The cheap map (wantZero: false): Bochs answers from its catalog alone, and the zeros
  // inside data are found below by writeNonZero.
  for await (const range of dataRanges(device, { wantZero: false, signal })) {
    for (let position = range.offset; position < range.offset + range.length; position += CHUNK_SIZE) {
      throwIfAborted(signal);
      const length = Math.min(CHUNK_SIZE, range.offset + range.length - position);
      const chunk = (buffers[turn++ % 2] as Buffer).subarray(0, length);
      await device.readInto(chunk, position); // overlaps with the previous chunk's write
      await pendingWrite;
      pendingWrite = writeNonZero(out, chunk, position);
      progress?.update(position + length);
    }
  }
  await pendingWrite;
  progress?.update(device.virtualSize);
}

/** Writes the runs of `chunk` that are not whole zero blocks, one write per run. */
async function writeNonZero(out: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let runStart = -1;
  for (let at = 0; at < chunk.length; at += ZERO_BLOCK) {
    const block = chunk.subarray(at, Math.min(at + ZERO_BLOCK, chunk.length));
    const isData = block.length === ZERO_BLOCK ? !block.equals(ZEROS) : block.some((b) => b !== 0);
    if (isData && runStart < 0) runStart = at;
    if (!isData && runStart >= 0) {
      await writeAll(out, chunk.subarray(runStart, at), position + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await writeAll(out, chunk.subarray(runStart), position + runStart);
}

async function writeAll(out: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await out.write(bytes, written, bytes.length - written, position + written);
    written += bytesWritten;
  }
}
