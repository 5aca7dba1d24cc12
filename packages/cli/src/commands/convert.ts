import { pipeline } from 'node:stream/promises';
import {
  type BlockDevice,
  copyDevice,
  InvalidArgumentError,
  isVdiskError,
  type Registry,
  SystemError,
  UnknownFormatError,
} from '@vdisk/core';
import { createReadStream, FileSource, openFile } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { type Destination, inspectDestination, PendingFile, refuseToOverwriteSource } from '../destination.js';
import { type Progress, startProgress } from '../progress.js';
import { parseSize } from '../size-suffix.js';

export interface ConvertOptions {
  format?: string;
  /** The source's open options (`-o`, as for every command that opens an image). */
  options?: Record<string, string>;
  outputFormat: string;
  /** The target's creation options (qemu-img convert's `-o`), e.g. Bochs's `extent_size`. */
  targetOptions?: Record<string, string>;
  /** `-S`: the zero granularity, with qemu's size suffixes. */
  sparseSize?: string;
  progress: boolean;
  signal?: AbortSignal;
}

/** qemu-img's largest `-S`. */
const MAX_SPARSE_SIZE = 16 * 1024 * 1024;

/**
 * `vdisk convert -O FMT SRC DST`: the whole virtual disk of SRC, any readable format, as a
 * new image of any format that can create, through core's sparse `copyDevice`. DST is
 * looked at before SRC is read (destination.ts says what each kind of DST gets). A new
 * image is written to a temporary file and opened with `cache: 'unsafe'`: it needs no
 * barrier until it is complete, since a crash leaves only the temporary file (QEMU's
 * cache=unsafe), and the rename at the end makes it appear whole.
 */
export async function convertCommand(src: string, dst: string, opts: ConvertOptions): Promise<number> {
  const registry = defaultRegistry();
  const format = opts.outputFormat;
  if (!registry.has(format)) throw new UnknownFormatError(`Unknown file format '${format}'`);
  if (typeof registry.get(format).create !== 'function') {
    throw new InvalidArgumentError(`Format driver '${format}' does not support image creation`);
  }
  const zeroGranularity = sparseSize(opts.sparseSize, format);
  const destination = await inspectDestination(dst);
  if (destination.kind === 'stdout' && format !== 'raw') {
    throw new InvalidArgumentError(`Standard output takes raw bytes only, not ${format}: write it to a file`, {
      filename: dst,
    });
  }

  const device = await openFile(registry, src, { format: opts.format, options: opts.options });
  try {
    await refuseToOverwriteSource(src, destination);
    const progress = opts.progress ? startProgress(device.virtualSize) : undefined;
    const copy = { zeroGranularity, signal: opts.signal, onProgress: (done: number) => progress?.update(done) };
    try {
      if (destination.kind === 'stdout') await streamToStdout(device, progress, opts.signal);
      else if (destination.kind === 'block-device')
        await convertInPlace(registry, device, destination, format, opts, copy);
      else await convertToNewFile(registry, device, destination, format, opts, copy);
    } catch (error) {
      // What the target did not claim is the source's: its driver's errors, and an abort.
      if (isVdiskError(error) && error.filename === undefined) error.filename = src;
      throw error;
    } finally {
      progress?.stop();
    }
  } finally {
    await device.close();
  }
  return 0;
}

/**
 * `-S`: blocks of zeros this big are not written. qemu-img's default is 4 KiB; for the Bochs
 * formats it is 512, the granularity bximage's convert skips zeros at (growing and sparse alike) (an extent with one zero and one
 * written sector gets bitmap `02000000`), so that the output is byte-identical to bximage's.
 */
function sparseSize(text: string | undefined, format: string): number {
  if (text === undefined) return format.startsWith('bochs') ? 512 : 4096; // bochs, bochs-sparse, bochs-redolog
  const parsed = parseSize(text);
  if (!parsed.ok && parsed.error === 'EINVAL') {
    throw new InvalidArgumentError(
      'Invalid buffer size for sparse output specified. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.',
    );
  }
  if (!parsed.ok || parsed.value > BigInt(MAX_SPARSE_SIZE) || parsed.value % 512n !== 0n) {
    throw new InvalidArgumentError(
      `Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to ${MAX_SPARSE_SIZE}. Select 0 to disable sparse detection (fully allocates output).`,
    );
  }
  return Number(parsed.value);
}

interface CopyOptions {
  zeroGranularity: number;
  signal?: AbortSignal;
  onProgress(done: number): void;
}

/** A regular file: a new image on a temporary file beside the target, renamed into place when complete. */
async function convertToNewFile(
  registry: Registry,
  device: BlockDevice,
  destination: Extract<Destination, { kind: 'file' }>,
  format: string,
  opts: ConvertOptions,
  copy: CopyOptions,
): Promise<void> {
  const pending = await PendingFile.create(destination);
  let target: BlockDevice | undefined;
  try {
    try {
      // The final name, not the temporary file's: a VMDK records it in its extent line.
      await registry.create(format, pending.source, {
        virtualSize: device.virtualSize,
        options: opts.targetOptions ?? {},
        filename: destination.path,
      });
      target = await registry.open(pending.source, { format, writable: true, cache: 'unsafe' });
    } catch (error) {
      throw nameTarget(error, pending.path, destination.name, true);
    }
    await copyDevice(device, target, copy);
    await target.close(); // closes the temporary file
    await pending.commit();
  } catch (error) {
    await target?.close().catch(() => {});
    await pending.abandon();
    throw nameTarget(error, pending.path, destination.name, false);
  }
}

/**
 * A block device: written in place, never truncated or replaced, and refused when it is
 * smaller than a raw copy of the disk (qemu-img's `Cannot grow device files`). It does not
 * read as zeros as a new file does, so a raw copy writes every byte (zero granularity 0);
 * a format with its own map (Bochs) reads unallocated extents as zeros whatever the device
 * held. The writes are flushed before the command succeeds: no rename marks completion here.
 */
async function convertInPlace(
  registry: Registry,
  device: BlockDevice,
  destination: Extract<Destination, { kind: 'block-device' }>,
  format: string,
  opts: ConvertOptions,
  copy: CopyOptions,
): Promise<void> {
  const source = await FileSource.open(destination.path, { writable: true }).catch((error: unknown) => {
    throw nameTarget(error, destination.path, destination.name, true);
  });
  let target: BlockDevice | undefined;
  try {
    if (format === 'raw' && source.size < device.virtualSize) {
      throw new SystemError('Cannot grow device files', undefined, { filename: destination.name });
    }
    try {
      // A raw image of a device is the device: there is nothing to create.
      if (format !== 'raw') {
        await registry.create(format, source, {
          virtualSize: device.virtualSize,
          options: opts.targetOptions ?? {},
          filename: destination.path,
        });
      }
      target = await registry.open(source, { format, writable: true });
    } catch (error) {
      throw nameTarget(error, destination.path, destination.name, true);
    }
    await copyDevice(device, target, format === 'raw' ? { ...copy, zeroGranularity: 0 } : copy);
    await target.flush();
  } catch (error) {
    throw nameTarget(error, destination.path, destination.name, false);
  } finally {
    if (target) await target.close();
    else await source.close();
  }
}

/** `-`: raw bytes, holes as zeros, to standard output, with its backpressure. */
async function streamToStdout(device: BlockDevice, progress: Progress | undefined, signal?: AbortSignal) {
  const stream = createReadStream(device, { signal });
  let done = 0;
  stream.on('data', (chunk: Buffer) => {
    done += chunk.length;
    progress?.update(done);
  });
  try {
    await pipeline(stream, process.stdout, { end: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') {
      throw new SystemError('Broken pipe', 'EPIPE', { filename: '-' });
    }
    throw error;
  }
}

/**
 * Errors of the target carry the name the user typed, not the temporary file's or the
 * resolved path. With `unnamed`, an error without a file name is the target's too (it came
 * from creating or opening it); otherwise it may be the source's, which main names.
 */
function nameTarget(error: unknown, path: string, name: string, unnamed: boolean): unknown {
  if (isVdiskError(error) && (error.filename === path || (unnamed && error.filename === undefined))) {
    error.filename = name;
  }
  return error;
}
