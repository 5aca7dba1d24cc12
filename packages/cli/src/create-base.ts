import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { CreateBacking, Registry } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { printWarning } from './warnings.js';

export interface CreateBaseOptions {
  /** qemu-img create's -b: the base, relative to the new image's directory. */
  backingFile?: string;
  /** qemu-img create's -F: the base's format (probed otherwise, a raw guess warned about). */
  backingFormat?: string;
}

/**
 * The base of a new overlay: qemu-img create's `-b BASE -F FMT`, or `-o base=BASE,base-format=FMT`
 * (as given). It becomes the driver's `base` and `base-format` creation options, and, when
 * no SIZE is given, its virtual size is the new image's (CONTRACT: `-f bochs-redolog -o
 * base=BASE FILE` takes its size from the base). The base stays open, as `backing`, for a
 * format that records its parent's identity (a differencing VHD); the caller closes it.
 */
export async function creationBase(
  registry: Registry,
  filename: string,
  format: string,
  opts: CreateBaseOptions,
  given: Record<string, string>,
): Promise<{ options: Record<string, string>; baseSize?: number; backing?: CreateBacking }> {
  const base = opts.backingFile ?? given.base;
  if (base === undefined) return { options: given };
  const baseFormat = opts.backingFormat ?? given['base-format'];
  const options = { ...given, base, ...(baseFormat === undefined ? {} : { 'base-format': baseFormat }) };
  // qemu-img resolves -b against the new image's directory; an open option is as given.
  const path = opts.backingFile !== undefined && !isAbsolute(base) ? join(dirname(filename), base) : base;
  const device = await openFile(registry, path, { format: baseFormat, onWarning: printWarning });
  const baseSize = device.virtualSize;
  const fullFilename = resolve(path);
  const backing: CreateBacking = { device, filename: relative(dirname(resolve(filename)), fullFilename), fullFilename };
  if (format === 'bochs-redolog' && basename(filename) !== `${basename(path)}.redolog`) {
    // A redolog does not store its base's name: Bochs finds it by the redolog's name.
    printWarning(`vdisk: warning: ${filename} is not named ${basename(path)}.redolog: open it with -o base=${path}`);
  }
  return { options, baseSize, backing };
}
