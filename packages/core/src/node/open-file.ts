import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { BackingOpener } from '../backing-chain.js';
import type { BlockDevice } from '../block-device.js';
import type { BackingReference } from '../driver.js';
import { isVdiskError } from '../errors.js';
import type { OpenImageOptions, ProbeResult, Registry } from '../registry.js';
import { FileSource } from './file-source.js';

/** Adds the file's name to an error that has none, so the CLI can say `vdisk: FILE: MESSAGE`. */
function withFilename(error: unknown, filename: string): unknown {
  if (isVdiskError(error) && error.filename === undefined) error.filename = filename;
  return error;
}

/** Probes the file at `path` (opened read-only, closed before returning). */
export async function probeFile(registry: Registry, path: string): Promise<ProbeResult> {
  const source = await FileSource.open(path);
  try {
    return await registry.probe(source, path);
  } catch (error) {
    throw withFilename(error, path);
  } finally {
    await source.close();
  }
}

/**
 * Opens the image file at `path`, with a named or a probed format. The file is opened
 * read-only unless `writable` is set. A failed open closes the file: no descriptor leaks.
 * An image with a parent (a backing file) gets it opened read-only, by `fileBackingOpener`.
 */
export async function openFile(registry: Registry, path: string, options: OpenImageOptions = {}): Promise<BlockDevice> {
  const source = await FileSource.open(path, { writable: (options.writable ?? false) && !options.snapshot });
  try {
    const backingOpener = options.backingOpener ?? (await fileBackingOpener(path));
    return await registry.open(source, { ...options, filename: options.filename ?? path, backingOpener });
  } catch (error) {
    await source.close();
    throw withFilename(error, path);
  }
}

/**
 * Opens parents as files, as QEMU does: a relative name is relative to the directory of the
 * image that names it; the parent is opened read-only; two names are one file when their
 * real paths are (the loop check). `top` is the image at the chain's head.
 */
export async function fileBackingOpener(top: string): Promise<BackingOpener> {
  return {
    identity: await realpath(top).catch(() => top),
    async open(reference: BackingReference, child: string | undefined) {
      const name = reference.filename;
      const filename = isAbsolute(name) || reference.asGiven || child === undefined ? name : join(dirname(child), name);
      let source: FileSource;
      try {
        source = await FileSource.open(filename);
      } catch (error) {
        if (reference.ifExists && (error as { syscallCode?: string }).syscallCode === 'ENOENT') return undefined;
        throw error;
      }
      return { source, filename, identity: await realpath(filename).catch(() => filename) };
    },
  };
}
