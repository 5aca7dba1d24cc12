import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BlockDevice, createVolatileOverlay, InvalidArgumentError, SystemError } from '@vdisk/core';
import { FileSource, openFile, probeFile } from '@vdisk/core/node';
import { createNbdServer, exportWritable, type NbdExport } from '@vdisk/nbd';
import { debug } from '../debug-mode.js';
import { defaultRegistry } from '../default-registry.js';
import { extendInterruptGrace } from '../signals.js';

export interface ServeOptions {
  format?: string;
  options?: Record<string, string>;
  readOnly?: boolean;
  /** QEMU's -snapshot: writes go to a temporary overlay, deleted on exit; the image is opened read-only. */
  snapshot?: boolean;
  socket?: string;
  port?: string;
  bind?: string;
  export?: string;
  signal?: AbortSignal;
}

/** How long a stopping server waits for a client to take its last replies. */
const STOP_TIMEOUT_MS = 5000;
/** And then for the flush and close of the image. */
const FLUSH_GRACE_MS = 25_000;

/** The operating system's words for what goes wrong when binding, as qemu-nbd prints them. */
const BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EACCES: 'Permission denied',
  ENOENT: 'No such file or directory',
  ENAMETOOLONG: 'File name too long',
  EINVAL: 'Invalid argument',
};

/**
 * `vdisk serve FILE`: the image as an NBD export (after `qemu-nbd`), until SIGINT or
 * SIGTERM. Then requests in flight finish, the image is flushed and closed, the socket
 * file removed, and the exit code is 0.
 */
export async function serveCommand(filename: string, opts: ServeOptions): Promise<number> {
  const listen = listenTarget(opts);
  const registry = defaultRegistry();
  // A format without write support is served read-only rather than refused, as its
  // READ_ONLY flag tells clients.
  const format = opts.format ?? (await probeFile(registry, filename)).format;
  const snapshot = Boolean(opts.snapshot) && !opts.readOnly;
  const writable = !opts.readOnly && (snapshot || typeof registry.get(format).write === 'function');
  let device: BlockDevice = await openFile(registry, filename, {
    format: opts.format,
    options: opts.options,
    writable: writable && !snapshot,
  });
  // Any format, even one that cannot write: the overlay takes the writes (core's volatile overlay).
  if (snapshot) device = createVolatileOverlay(device, await temporaryStore(), filename);
  const log = (line: string) => process.stderr.write(`vdisk: ${line}\n`);
  if (device.probeGuessed && writable && !snapshot) {
    // qemu-nbd's warning, word for word: core refuses writes that would change what sector 0 probes as.
    process.stderr.write(
      `WARNING: Image format was not specified for '${filename}' and probing guessed raw.\n` +
        '         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n' +
        "         Specify the 'raw' format explicitly to remove the restrictions.\n",
    );
  }
  const name = opts.export ?? '';
  const entry: NbdExport = { name, device, readOnly: !writable };
  const server = createNbdServer({ exports: [entry], log, debug: debug.enabled, stopTimeout: STOP_TIMEOUT_MS });
  // On SIGINT/SIGTERM the clients' requests finish (a client gets STOP_TIMEOUT_MS to take
  // its replies), then the image is flushed and closed: more than the usual grace.
  extendInterruptGrace(STOP_TIMEOUT_MS + FLUSH_GRACE_MS);
  let listening = false;
  try {
    if (opts.signal?.aborted) return 0;
    try {
      await server.listen(listen.options);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      throw new SystemError(
        `Failed to bind socket to ${listen.description}: ${BIND_ERRORS[code] ?? (error as Error).message}`,
        code,
      );
    }
    listening = true;
    log(
      `serving ${filename} (${snapshot ? `${device.backing?.device.format}, snapshot` : device.format}, ${exportWritable(entry) ? 'read-write' : 'read-only'}) on ${uriOf(server.address(), listen, name)}`,
    );
    await new Promise<void>((resolve) => {
      if (opts.signal?.aborted) resolve();
      opts.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    log('stopping: finishing requests in flight');
    return 0;
  } finally {
    await server.close();
    try {
      if (exportWritable(entry)) await device.flush();
    } finally {
      await device.close();
      if (listening && listen.options.path !== undefined) await removeSocket(listen.options.path);
    }
  }
}

interface ListenTarget {
  options: { path?: string; port?: number; host?: string };
  description: string;
}

function listenTarget(opts: ServeOptions): ListenTarget {
  if ((opts.socket === undefined) === (opts.port === undefined)) {
    throw new InvalidArgumentError('serve needs one of --socket PATH or --port N');
  }
  if (opts.socket !== undefined) {
    if (opts.bind !== undefined) throw new InvalidArgumentError('--bind goes with --port, not --socket');
    // Never replace what is there: qemu-nbd refuses too ("Address already in use").
    return { options: { path: opts.socket }, description: opts.socket };
  }
  const port = Number(opts.port);
  if (!/^\d+$/.test(opts.port ?? '') || port > 65535) {
    throw new InvalidArgumentError(`Invalid port '${opts.port}': expected 0 to 65535`);
  }
  // Loopback unless told otherwise: NBD has no authentication here (the README says why).
  const host = opts.bind ?? '127.0.0.1';
  return { options: { port, host }, description: `${host}:${port}` };
}

/** The URI clients connect to: qemu's and libnbd's forms. */
function uriOf(address: ReturnType<ReturnType<typeof createNbdServer>['address']>, target: ListenTarget, name: string) {
  const exportPath = encodeURIComponent(name);
  if (target.options.path !== undefined) {
    return `nbd+unix:///${exportPath}?socket=${target.options.path}`;
  }
  if (address && typeof address === 'object') {
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `nbd://${host}:${address.port}/${exportPath}`;
  }
  return String(address);
}

/** Removes the server's socket file, if it still is one (Node removes it on close already). */
async function removeSocket(path: string): Promise<void> {
  if (existsSync(path) && statSync(path).isSocket()) await unlink(path).catch(() => {});
}

/**
 * The snapshot's store: a new file in the temporary directory, mode 0600, unlinked at once
 * (Bochs's volatile redolog: mkstemp, then unlink), so it is gone when the process ends,
 * however it ends. The overlay appends its clusters to it.
 */
async function temporaryStore(): Promise<FileSource> {
  const path = join(tmpdir(), `vdisk-snapshot-${process.pid}-${randomBytes(6).toString('hex')}`);
  const store = await FileSource.create(path, { mode: 0o600 });
  await unlink(path);
  return store;
}
