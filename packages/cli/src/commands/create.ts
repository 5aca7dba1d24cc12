import { basename } from 'node:path';
import {
  type CreateBacking,
  InvalidArgumentError,
  isVdiskError,
  type Registry,
  SystemError,
  strtosz,
  UnknownFormatError,
} from '@vdisk/core';
import { FileSource } from '@vdisk/core/node';
import { type CreateBaseOptions, creationBase } from '../create-base.js';
import { defaultRegistry } from '../default-registry.js';
import { inspectDestination, PendingFile } from '../destination.js';

export interface CreateOptions extends CreateBaseOptions {
  format?: string;
  /** Creation options (`-o extent_size=65536`). */
  options?: Record<string, string>;
  force: boolean;
}

/**
 * `vdisk create [-f FMT] [-o K=V,..] [--force] FILE [SIZE]`, after `qemu-img create`: it
 * prints qemu-img's `Formatting 'FILE', fmt=FMT size=N` line and writes a new, empty image.
 * Unlike qemu-img, which truncates an existing file silently, it refuses one (`File exists`)
 * unless `--force`; the image is written to a temporary file and renamed into place, so
 * FILE is never half-made, and a replaced file keeps its mode and owner.
 */
export async function createCommand(filename: string, size: string | undefined, opts: CreateOptions): Promise<number> {
  const registry = defaultRegistry();
  const format = opts.format ?? 'raw';
  if (!registry.has(format)) throw new UnknownFormatError(`Unknown file format '${format}'`, { filename });
  if (typeof registry.get(format).create !== 'function') {
    throw new InvalidArgumentError(`Format driver '${format}' does not support image creation`, { filename });
  }
  // An overlay's base (-b, or -o base=): its size is the new image's unless SIZE is given.
  // It stays open until the image is made: a differencing VHD records its unique id.
  const base = await creationBase(
    registry,
    filename,
    format,
    impliedRedologBase(filename, format, size, opts),
    opts.options ?? {},
  );
  try {
    return await createOnto(registry, filename, format, size, opts, base);
  } finally {
    await base.backing?.device.close();
  }
}

async function createOnto(
  registry: Registry,
  filename: string,
  format: string,
  size: string | undefined,
  opts: CreateOptions,
  { options, baseSize, backing }: { options: Record<string, string>; baseSize?: number; backing?: CreateBacking },
): Promise<number> {
  if (size === undefined && baseSize === undefined) {
    throw new InvalidArgumentError('Image creation needs a size parameter', { filename });
  }
  const virtualSize = size === undefined ? (baseSize as number) : imageSize(size);

  const destination = await inspectDestination(filename);
  if (destination.kind === 'stdout') {
    throw new InvalidArgumentError('Cannot create an image on standard output', { filename });
  }
  if (destination.existing && !opts.force) {
    throw new SystemError('File exists', 'EEXIST', { filename });
  }
  const extra = Object.entries(options).map(([key, value]) => ` ${key}=${value}`);
  process.stdout.write(`Formatting '${filename}', fmt=${format} size=${virtualSize}${extra.join('')}\n`);

  if (destination.kind === 'block-device') {
    // In place, as qemu-img does on a device: never truncated or replaced.
    const source = await FileSource.open(destination.path, { writable: true });
    try {
      if (format === 'raw') {
        if (source.size < virtualSize) throw new SystemError('Cannot grow device files', undefined, { filename });
      } else {
        await registry.create(format, source, {
          virtualSize,
          options,
          filename: destination.path,
          ...(backing ? { backing } : {}),
        });
        await source.flush();
      }
    } catch (error) {
      throw named(error, destination.path, filename);
    } finally {
      await source.close();
    }
    return 0;
  }

  const pending = await PendingFile.create(destination);
  try {
    // The final name, not the temporary file's: a VMDK records it in its extent line.
    await registry.create(format, pending.source, {
      virtualSize,
      options,
      filename: destination.path,
      ...(backing ? { backing } : {}),
    });
    await pending.source.close();
    await pending.commit();
  } catch (error) {
    await pending.abandon();
    throw named(error, pending.path, filename);
  }
  return 0;
}

/**
 * A redolog with neither a base nor a SIZE given is over FILE without `.redolog`: Bochs
 * finds a redolog's base by that name (the redolog does not store it), so that is the base
 * it will be used with. `-b` is relative to the new image's directory, as the name is.
 */
function impliedRedologBase(
  filename: string,
  format: string,
  size: string | undefined,
  opts: CreateOptions,
): CreateBaseOptions {
  const suffix = '.redolog';
  const named = opts.backingFile !== undefined || opts.options?.base !== undefined;
  if (format !== 'bochs-redolog' || size !== undefined || named || !filename.endsWith(suffix)) return opts;
  const base = basename(filename.slice(0, -suffix.length));
  return base === '' ? opts : { ...opts, backingFile: base };
}

/** qemu-img create's size argument (cvtnum_full "image size"), up to what vdisk holds exactly: 2^53 - 1. */
function imageSize(text: string): number {
  const parsed = strtosz(text);
  if (!parsed.ok && parsed.error === 'EINVAL') {
    throw new InvalidArgumentError(
      'Invalid image size specified. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.',
    );
  }
  if (!parsed.ok || parsed.value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidArgumentError(`Invalid image size specified. Must be between 0 and ${Number.MAX_SAFE_INTEGER}.`);
  }
  return Number(parsed.value);
}

/** An error of the new image names FILE as the user typed it. */
function named(error: unknown, path: string, filename: string): unknown {
  if (isVdiskError(error) && (error.filename === undefined || error.filename === path)) {
    error.filename = filename;
  }
  return error;
}
