import type { BlockDevice } from '../block-device.js';
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
 */
export async function openFile(registry: Registry, path: string, options: OpenImageOptions = {}): Promise<BlockDevice> {
  const source = await FileSource.open(path, { writable: options.writable ?? false });
  try {
    return await registry.open(source, { ...options, filename: options.filename ?? path });
  } catch (error) {
    await source.close();
    throw withFilename(error, path);
  }
}
